import ArgumentParser
import BatchdCore
import Foundation

extension Batchd {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the daemon in the foreground; logs go to stderr."
        )

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let config = try options.loadOrExit()
            Console.error("batchd \(BatchdVersion.current): loaded \(config.path) (\(config.jobs.count) jobs, state in \(config.stateDirectory))")
            let now = Date()
            for job in config.jobs {
                Console.error(FireTimeReport(job: job, now: now, count: 1).text)
            }
            Console.error("the scheduler is not built yet (issue 3): nothing runs; exiting")
        }
    }
}
