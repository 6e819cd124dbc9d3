import FoundationEssentials
import Glibc

/// One job of batch.yaml after validation: every common setting resolved (defaults applied) and
/// the type-specific settings held by the job's handler value.
///
/// A class, and immutable: a job's configuration is copied into every run request, timer,
/// waiting-line entry and completion, and as a struct it was 344 bytes with a dozen references
/// to retain on each copy. With ten thousand jobs, the configuration's array and the scheduler's
/// timers held 11 MB of inline copies; now both hold a pointer to one shared object.
public final class JobConfig: Sendable {
    public let name: String
    public let type: String
    public let displayName: String
    public let enabled: Bool
    public let schedule: Schedule?
    /// Jobs that must each complete successfully (since this job's last run) before it runs.
    public let after: [String]
    public let runOnStart: Bool
    public let catchUp: Bool
    public let jitter: Duration
    public let timeout: Duration
    public let retry: RetryPolicy
    public let priority: Int
    public let overlap: OverlapPolicy
    public let notify: NotifySettings?
    /// The handler, configured with this job's own keys.
    public let handler: any JobHandler
    /// Where the job is declared, for messages about it.
    public let mark: SourceMark

    public init(name: String, type: String, displayName: String, enabled: Bool, schedule: Schedule?, after: [String],
                runOnStart: Bool, catchUp: Bool, jitter: Duration, timeout: Duration, retry: RetryPolicy, priority: Int,
                overlap: OverlapPolicy, notify: NotifySettings?, handler: any JobHandler, mark: SourceMark) {
        self.name = name
        self.type = type
        self.displayName = displayName
        self.enabled = enabled
        self.schedule = schedule
        self.after = after
        self.runOnStart = runOnStart
        self.catchUp = catchUp
        self.jitter = jitter
        self.timeout = timeout
        self.retry = retry
        self.priority = priority
        self.overlap = overlap
        self.notify = notify
        self.handler = handler
        self.mark = mark
    }

    /// A delay in [0, jitter) that depends only on the job's name, so it is the same on every
    /// start and on every machine, and different jobs spread out.
    public var jitterOffset: Duration {
        let span = jitter.milliseconds
        guard span > 0 else { return .zero }
        return .milliseconds(Int64(StableHash.fnv1a(name) % UInt64(span)))
    }
}

public enum OverlapPolicy: String, Sendable, CaseIterable {
    /// A trigger while the job runs is refused ("already running"); a due time is skipped.
    case forbid
    /// The job runs once more after the current run (further requests fold into that one).
    case queue
}

/// Retries after a failed run: `maxAttempts` counts the first try; delays grow geometrically.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var multiplier: Double
    public var maxDelay: Duration

    public init(maxAttempts: Int, initialDelay: Duration, multiplier: Double, maxDelay: Duration) {
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maxDelay = maxDelay
    }

    public static let standard = RetryPolicy(maxAttempts: 3, initialDelay: .seconds(60), multiplier: 2, maxDelay: .seconds(3600))

    /// The wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed.
    public func delay(afterAttempt attempt: Int) -> Duration {
        let factor = pow(multiplier, Double(max(0, attempt - 1)))
        let milliseconds = min(Double(initialDelay.milliseconds) * factor, Double(maxDelay.milliseconds))
        return .milliseconds(Int64(milliseconds))
    }
}

public struct NotifySettings: Sendable, Hashable {
    public enum Event: String, Sendable, CaseIterable {
        case failure, recovery, success, update
    }

    public var webhook: String
    public var on: Set<Event>

    public init(webhook: String, on: Set<Event>) {
        self.webhook = webhook
        self.on = on
    }
}

/// FNV-1a: a tiny hash that is the same in every process (Swift's `Hasher` is seeded per process).
public enum StableHash {
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
