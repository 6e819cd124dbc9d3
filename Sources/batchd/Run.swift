import ArgumentParser
import BatchdCore
import BatchdHandlers
import Foundation
import Logging

extension Batchd {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the daemon in the foreground; logs go to stderr (exit 0 after SIGTERM/SIGINT)."
        )

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let (config, bytes) = try options.loadWithBytesOrExit()
            let logger = DaemonLogger.make(config)
            let daemon = Daemon(configPath: options.path, config: config, bytes: bytes,
                                loader: ConfigLoader(registry: BuiltInJobTypes.registry), logger: logger)
            do {
                try await daemon.run()
            } catch {
                Console.error("batchd: error: \(error)")
                throw ExitCode(1)
            }
        }
    }
}

/// The daemon's logger on stderr, in the format and level batch.yaml asks for.
enum DaemonLogger {
    static func make(_ config: BatchConfig) -> Logger {
        var logger = Logger(label: "batchd") { label in
            ConsoleLogHandler(label: label, format: config.logFormat, level: config.logLevel)
        }
        logger.logLevel = config.logLevel.swiftLogLevel
        return logger
    }
}
