import FoundationEssentials
import Glibc
import Synchronization

/// What the engine reports as it works: runs starting and finishing, the scheduler going idle.
/// Tests await these instead of sleeping; the daemon rewrites status.json on them.
public enum EngineEvent: Sendable {
    case runStarted(job: String, runID: Int64, trigger: RunTrigger, attempt: Int)
    case runFinished(RunRecord)
    /// A run could not be recorded (disk full, ...): the record is in the log line instead.
    case recordFailed(job: String, runID: Int64, error: String)
    /// The scheduler is about to sleep until `nextWake` (nil: until something happens).
    case schedulerIdle(nextWake: Date?)
    /// A new configuration was applied (or refused) by a reload.
    case reloaded(ok: Bool, summary: String)
}

/// Fans events out to every subscriber. Each subscription buffers without bound: subscribers
/// are tests, the status writer and the metrics, which keep up.
public final class EventBus: Sendable {
    private let subscribers = Mutex<[UInt64: AsyncStream<EngineEvent>.Continuation]>([:])
    private let observers = Mutex<[@Sendable (EngineEvent) -> Void]>([])
    private let nextID = Atomic<UInt64>(0)

    public init() {}

    /// Calls `observer` inside every `publish`, before `publish` returns: for what must know
    /// of an event before anything that follows it can be seen (a cache marking itself stale
    /// before the log line that a reader acts on). It must be quick and must not publish.
    public func observe(_ observer: @escaping @Sendable (EngineEvent) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    public func subscribe() -> AsyncStream<EngineEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<EngineEvent>.makeStream()
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    /// Ends every subscription (their `for await` loops finish); at shutdown, once the engine
    /// has drained.
    public func finish() {
        let targets = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        for target in targets { target.finish() }
    }

    public func publish(_ event: EngineEvent) {
        for observer in observers.withLock({ $0 }) { observer(event) }
        let targets = subscribers.withLock { Array($0.values) }
        for target in targets { target.yield(event) }
    }
}
