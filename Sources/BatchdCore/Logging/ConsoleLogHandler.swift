import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// The daemon's own log on stderr: `text` for a terminal, `json` (one object a line) for
/// journald, Loki or Elasticsearch. Each line is written with one `write`, so lines from
/// concurrent runs never interleave (lines about many runs at once, with one for all of them:
/// `LogLineBatch`).
public struct ConsoleLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    let format: LogFormat
    let label: String
    let fileDescriptor: Int32

    public init(label: String, format: LogFormat, level: LogLevel, fileDescriptor: Int32 = 2) {
        self.label = label
        self.format = format
        self.logLevel = level.swiftLogLevel
        self.fileDescriptor = fileDescriptor
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // The daemon's loggers carry no metadata of their own: each line's comes with it, and
        // merging into an empty dictionary copied it for nothing (a run logs two lines).
        var merged = event.metadata ?? [:]
        if !metadata.isEmpty { merged.merge(metadata) { fromEvent, _ in fromEvent } }
        let level = LogLevel(event.level)
        let now = Date()
        var line: [UInt8]
        switch format {
        case .json:
            var object = JSONObjectWriter(capacity: 192)
            object.field("timestamp", Timestamp.iso8601(now))
            object.field("level", level.rawValue)
            object.field("message", event.message.description)
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                if case .string(let text) = value { object.field(key, text) } else { object.field(key, JSONValue(metadata: value)) }
            }
            line = object.finish()
        case .text:
            var text = "\(Timestamp.iso8601(now)) \(level.rawValue.uppercased().padded(to: 5)) \(event.message)"
            // The run's identity first, then the rest in a stable order.
            let ordered = merged.sorted { lhs, rhs in
                let rank = { (key: String) in ["job": 0, "run": 1, "attempt": 2][key] ?? 3 }
                return (rank(lhs.key), lhs.key) < (rank(rhs.key), rhs.key)
            }
            for (key, value) in ordered {
                text += " \(key)=\(JSONWriter.string(JSONValue(metadata: value)).trimmingQuotesIfSimple)"
            }
            line = Array(text.utf8)
        }
        line.append(0x0A)
        if let batch = LogLineBatch.current, batch.add(line, to: fileDescriptor) { return }
        Self.writeAll(line, to: fileDescriptor)
    }

    /// Whole lines, with one `write` when the descriptor takes them all.
    static func writeAll(_ bytes: [UInt8], to fileDescriptor: Int32) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}

private extension String {
    /// `"abc"` prints as `abc` in text logs when nothing in it needs the quotes.
    var trimmingQuotesIfSimple: String {
        guard count >= 2, hasPrefix("\""), hasSuffix("\"") else { return self }
        let inner = dropFirst().dropLast()
        return inner.contains(where: { $0 == " " || $0 == "\\" || $0 == "\"" || $0 == "=" }) || inner.isEmpty ? self : String(inner)
    }
}
