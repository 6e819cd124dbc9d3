import FoundationEssentials
import Glibc
import Logging

/// A swift-log handler that records every entry of a run into its `RunLog`, so the entries
/// land in the run's history record. A value type over a shared, locked buffer, as swift-log's
/// in-memory handler is: copies of the logger may add metadata without touching each other.
public struct RunLogHandler: LogHandler {
    public let log: RunLog
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .debug
    /// Metadata keys that identify the run: they belong to the daemon's log line, not to the
    /// record (which already says which job, run and attempt it is).
    static let runKeys: Set<String> = ["job", "run", "attempt"]

    public init(log: RunLog) {
        self.log = log
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
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
