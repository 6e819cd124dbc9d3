import FoundationEssentials
import Glibc
import Synchronization

/// What the daemon runs now: the configuration, its bytes and hash, when it was loaded, and how
/// the last reload went. The reload path writes it; status.json, the HTTP API and the metrics
/// read it, from any thread.
public final class DaemonState: Sendable {
    public struct Current: Sendable {
        public var config: BatchConfig
        public var bytes: [UInt8]
        /// The content hash of the file as loaded (see `ConfigHash`).
        public var hash: String
        public var loadedAt: Date
        /// Nil until the first reload after start.
        public var lastReload: DaemonStatus.Reload?
    }

    public let configPath: String
    public let startedAt: Date
    private let current: Mutex<Current>

    public init(configPath: String, config: BatchConfig, bytes: [UInt8], now: Date = Date()) {
        self.configPath = configPath
        startedAt = now
        current = Mutex(Current(config: config, bytes: bytes, hash: ConfigHash.of(bytes), loadedAt: now, lastReload: nil))
    }

    public var snapshot: Current { current.withLock { $0 } }

    public var config: BatchConfig { current.withLock { $0.config } }

    func update(_ change: (inout Current) -> Void) {
        current.withLock { change(&$0) }
    }
}
