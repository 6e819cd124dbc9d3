import Logging
import Synchronization

/// Every line a `Logger` writes, kept as text for tests to read: `level message`, then the
/// metadata as sorted `key=value` pairs when `withMetadata` is set.
public final class CapturedLog: Sendable {
    private let store = Mutex<[String]>([])
    private let withMetadata: Bool

    public init(withMetadata: Bool = true) {
        self.withMetadata = withMetadata
    }

    public var lines: [String] { store.withLock { $0 } }
    public var count: Int { store.withLock { $0.count } }

    /// A logger whose every line lands here.
    public func logger(label: String) -> Logger {
        Logger(label: label) { _ in Handler(log: self) }
    }

    fileprivate func append(_ line: String) {
        store.withLock { $0.append(line) }
    }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            guard log.withMetadata else {
                log.append("\(event.level) \(event.message)")
                return
            }
            let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
            log.append("\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        }
    }
}
