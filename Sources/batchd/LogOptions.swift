import ArgumentParser
import BatchdCore
import Logging

/// `--log-format` and `--log-level` for the commands that log (run, once): they win over
/// `logFormat` and `logLevel` in batch.yaml, so a systemd unit or a container can choose
/// without editing the file.
struct LogOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("text (for a terminal) or json (one object a line, for journald, Loki or Elasticsearch); default: logFormat in batch.yaml, else text.", valueName: "format"))
    var logFormat: LogFormat?

    @Option(name: .long, help: ArgumentHelp("debug, info, warn or error; default: logLevel in batch.yaml, else info.", valueName: "level"))
    var logLevel: LogLevel?

    /// The daemon's logger on stderr, in the format and level asked for.
    func logger(for config: BatchConfig) -> Logger {
        let format = logFormat ?? config.logFormat, level = logLevel ?? config.logLevel
        var logger = Logger(label: "batchd") { label in
            ConsoleLogHandler(label: label, format: format, level: level)
        }
        logger.logLevel = level.swiftLogLevel
        return logger
    }
}

extension LogFormat: ExpressibleByArgument {}
extension LogLevel: ExpressibleByArgument {}
