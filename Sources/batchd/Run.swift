import ArgumentParser
import BatchdCore
import BatchdHandlers
import BatchdHTTP
import Dispatch
import FoundationEssentials
import Glibc
import Logging

extension Batchd {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the daemon in the foreground; logs go to stderr (exit 0 after SIGTERM/SIGINT)."
        )

        @OptionGroup var options: ConfigOptions
        @OptionGroup var logging: LogOptions

        func run() throws {
            ProcessMemory.tuneAllocator()  // before any thread has an arena
            SignalEvents.blockEarly()  // before any thread exists, so every thread inherits it
            let (config, bytes) = try options.loadWithBytesOrExit()
            let logger = logging.logger(for: config)
            let daemon = Daemon(configPath: options.path, config: config, bytes: bytes,
                                loader: ConfigLoader(registry: BuiltInJobTypes.registry), logger: logger,
                                frontEnds: { context in await HTTPFrontEnd.make(context) })
            try BlockingAsync.run {
                do {
                    try await daemon.run()
                } catch {
                    Console.error("batchd: error: \(error)")
                    throw ExitCode(1)
                }
            }
        }
    }
}

/// Runs async work from a synchronous command and waits for it on a semaphore (see `Batchd`).
enum BlockingAsync {
    static func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                box.result = .success(try await body())
            } catch {
                box.result = .failure(error)
            }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }
}

private final class ResultBox<T>: @unchecked Sendable {  // written before the semaphore signals, read after
    var result: Result<T, any Error>?
}
