import ArgumentParser
import BatchdCore
import FoundationEssentials
import Glibc
import Logging

extension Batchd {
    struct Once: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one job now in this process and record it (exit 0 completed, 1 failed or timed out)."
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var logging: LogOptions

        @Argument(help: "The job to run.")
        var job: String

        @Flag(name: .long, help: "Print the run's record on stdout as its JSON line (for a CronJob's log, shipped as JSON Lines).")
        var json = false

        func run() throws {
            SignalEvents.blockEarly([SIGINT, SIGTERM])
            let config = try options.loadOrExit()
            let job = try config.jobOrExit(self.job)
            let logger = logging.logger(for: config), json = self.json
            try BlockingAsync.run { try await Self.runOnce(job, config: config, logger: logger, printRecord: json) }
        }

        private static func runOnce(_ job: JobConfig, config: BatchConfig, logger: Logger, printRecord: Bool) async throws {
            let history: JSONLinesHistoryStore
            do {
                history = try JSONLinesHistoryStore(stateDirectory: config.stateDirectory, settings: config.history)
            } catch {
                Console.error("batchd: error: \(error)")
                throw ExitCode(1)
            }
            // SIGINT/SIGTERM cancel the run; it is still recorded (as cancelled).
            let runTask = Task { try await Engine.runOnce(job, config: config, history: history, logger: logger) }
            let signals = Task {
                for await _ in SignalEvents.stream([SIGINT, SIGTERM]) {
                    runTask.cancel()
                    break
                }
            }
            let record: RunRecord
            do {
                record = try await runTask.value
            } catch {
                signals.cancel()
                Console.error("batchd: error: \(error)")
                throw ExitCode(1)
            }
            signals.cancel()
            // The run is recorded; its notification (if the job has notify:) goes out before exit.
            await NotificationService(history: history, notifier: WebhookNotifier(logger: logger)) { config.job(named: $0) }.notify(record)
            Console.error("\(record.jobType): run \(record.id) \(record.status.rawValue) in \(record.durationMs) ms"
                + (record.error.map { ": \($0)" } ?? ""))
            if printRecord { Console.print(JSONWriter.string(record.json)) }
            if record.status != .completed { throw ExitCode(1) }
        }
    }

    struct Trigger: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the running daemon to run a job now (exit 0 accepted, 1 refused)."
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The job to run.")
        var job: String

        func run() throws {
            try ControlRequest.send("trigger", job: job, options: options)
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the running daemon to cancel a job's run (exit 0 accepted, 1 refused)."
        )

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The job whose run to cancel.")
        var job: String

        func run() throws {
            try ControlRequest.send("cancel", job: job, options: options)
        }
    }
}

/// `trigger` and `cancel`: through the daemon's control socket in the state directory.
enum ControlRequest {
    static func send(_ verb: String, job: String, options: ConfigOptions) throws {
        let location = try options.locateStateOrExit()
        // With a valid file, an unknown job is refused here with a suggestion; otherwise the
        // daemon, which runs the last good configuration, decides.
        if let config = location.config { _ = try config.jobOrExit(job) }
        do {
            let answer = try ControlSocketClient.send(verb, job: job, socketPath: "\(location.stateDirectory)/control.sock")
            if answer.ok {
                Console.print(answer.message)
            } else {
                Console.error("batchd: error: \(answer.message)")
                throw ExitCode(1)
            }
        } catch let failure as ControlSocketClient.Failure {
            Console.error("batchd: error: \(failure)")
            throw ExitCode(1)
        }
    }
}

extension BatchConfig {
    /// The named job, or an error naming the closest one and exit status 1.
    func jobOrExit(_ name: String) throws -> JobConfig {
        if let job = job(named: name) { return job }
        let hint = Suggestion.closest(to: name, among: jobs.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
        Console.error("\(path): error: no job named '\(name)'\(hint)")
        throw ExitCode(1)
    }
}
