import FoundationEssentials
import Glibc
import Logging

/// A swift-log handler that records every entry of a run into its `RunLog`, so the entries
/// land in the run's history record, and (for a run's logger) passes each one on to the
/// daemon's log too. A value type over a shared, locked buffer, as swift-log's in-memory
/// handler is: copies of the logger may add metadata without touching each other.
///
/// One handler that does both, not a `MultiplexLogHandler` over two: every run makes a logger
/// and gives it the run's identity, and through the multiplexer that was two handlers' worth
/// of metadata dictionaries built and merged per run, a few percent of a no-op run's cost.
public struct RunLogHandler: LogHandler {
    public let log: RunLog
    public var metadata: Logger.Metadata
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .debug
    /// Where each entry also goes, with the metadata (the daemon's log).
    let daemonLogger: Logger?
    /// Metadata keys that identify the run: they belong to the daemon's log line, not to the
    /// record (which already says which job, run and attempt it is).
    static let runKeys: Set<String> = ["job", "run", "attempt"]

    public init(log: RunLog) {
        self.init(log: log, forwardingTo: nil, metadata: [:])
    }

    /// A run's handler: entries go to `log` and to `daemonLogger`, with `metadata` (the run's
    /// identity) on each.
    public init(log: RunLog, forwardingTo daemonLogger: Logger?, metadata: Logger.Metadata) {
        self.log = log
        self.daemonLogger = daemonLogger
        self.metadata = metadata
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        daemonLogger?.log(level: event.level, event.message, metadata: merged, source: event.source,
                          file: event.file, function: event.function, line: event.line)
        let fields = merged.filter { !Self.runKeys.contains($0.key) }
            .sorted { $0.key < $1.key }
            .map { ($0.key, JSONValue(metadata: $0.value)) }
        log.append(LogEntry(timestamp: Date(), level: LogLevel(event.level), message: event.message.description, metadata: fields))
    }
}

extension LogLevel {
    /// swift-log has seven levels; run records use the seed's four.
    public init(_ level: Logger.Level) {
        switch level {
        case .trace, .debug: self = .debug
        case .info, .notice: self = .info
        case .warning: self = .warn
        case .error, .critical: self = .error
        }
    }

    public var swiftLogLevel: Logger.Level {
        switch self {
        case .debug: .debug
        case .info: .info
        case .warn: .warning
        case .error: .error
        }
    }
}

extension JSONValue {
    /// Log metadata as JSON: strings stay strings, nested values keep their shape.
    public init(metadata value: Logger.MetadataValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .stringConvertible(let convertible):
            if let number = convertible as? Int { self = .int(Int64(number)) }
            else if let number = convertible as? Int64 { self = .int(number) }
            else if let number = convertible as? Double { self = .double(number) }
            else if let flag = convertible as? Bool { self = .bool(flag) }
            else { self = .string(convertible.description) }
        case .array(let items): self = .array(items.map(JSONValue.init(metadata:)))
        case .dictionary(let pairs): self = .object(pairs.sorted { $0.key < $1.key }.map { ($0.key, JSONValue(metadata: $0.value)) })
        }
    }
}
