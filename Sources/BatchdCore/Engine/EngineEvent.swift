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
    private struct Subscriber {
        var continuation: AsyncStream<EngineEvent>.Continuation
        var wants: @Sendable (EngineEvent) -> Bool
    }

    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let observers = Mutex<[@Sendable (EngineEvent) -> Void]>([])
    private let nextID = Atomic<UInt64>(0)

    public init() {}

    /// Calls `observer` inside every `publish`, before `publish` returns: for what must know
    /// of an event before anything that follows it can be seen (a cache marking itself stale
    /// before the log line that a reader acts on). It must be quick and must not publish.
    public func observe(_ observer: @escaping @Sendable (EngineEvent) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// Every event from now on, or those that `wants` picks. The filter runs inside
    /// `publish` (it must be quick): an event nobody downstream uses then costs no task switch
    /// (the notifier needs only the finished runs of jobs with `notify:`, a tiny share of
    /// ten thousand runs a minute).
    public func subscribe(where wants: @escaping @Sendable (EngineEvent) -> Bool = { _ in true }) -> AsyncStream<EngineEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<EngineEvent>.makeStream()
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = Subscriber(continuation: continuation, wants: wants) }
        return stream
    }

    /// Ends every subscription (their `for await` loops finish); at shutdown, once the engine
    /// has drained.
    public func finish() {
        let targets = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return subscribers.values.map(\.continuation)
        }
        for target in targets { target.finish() }
    }

    public func publish(_ event: EngineEvent) {
        for observer in observers.withLock({ $0 }) { observer(event) }
        let targets = subscribers.withLock { Array($0.values) }
        for target in targets where target.wants(event) { target.continuation.yield(event) }
    }
}
