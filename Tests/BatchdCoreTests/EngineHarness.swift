import BatchdCore
import BatchdHandlers
import BatchdTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// The engine on a manual clock and an in-memory history, with every event recorded so that a
/// test can await "the next run that finished" instead of sleeping.
final class EngineHarness: Sendable {
    let clock: ManualClock
    let history: InMemoryHistoryStore
    let engine: Engine
    let recorder = EventRecorder()
    let config: BatchConfig
    private let runTask = Mutex<Task<Void, Never>?>(nil)
    private let recordTask: Task<Void, Never>

    static let registry = JobTypeRegistry(Array(BuiltInJobTypes.registry.types.values) + [ScriptedJob.self])
    static let t0 = Timestamp.parse("2026-11-29T12:00:00.000Z")!

    /// A harness whose engine has planned its jobs and runs its loop.
    static func start(_ yaml: String, wall: Date = EngineHarness.t0, records: [RunRecord] = []) async throws -> EngineHarness {
        let harness = try EngineHarness(yaml, wall: wall, records: records)
        await harness.engine.prepare()
        let engine = harness.engine
        harness.runTask.withLock { $0 = Task { await engine.run() } }
        return harness
    }

    private init(_ yaml: String, wall: Date, records: [RunRecord]) throws {
        config = try ConfigLoader(registry: Self.registry).load(bytes: Array(yaml.utf8), path: "batch.yaml").get()
        clock = ManualClock(wall: wall)
        history = InMemoryHistoryStore(records: records)
        var logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        engine = Engine(config: config, history: history, clock: clock, logger: logger, environment: [:])
        let stream = engine.events.subscribe()
        let recorder = self.recorder
        recordTask = Task {
            for await event in stream { await recorder.append(event) }
        }
    }

    func stop() async {
        await engine.shutdown(grace: .zero)
        await runTask.withLock { $0 }?.value
        recordTask.cancel()
    }

    /// The next run that finishes (after those already taken).
    func finished(sourceLocation: SourceLocation = #_sourceLocation) async -> RunRecord? {
        await recorder.next(sourceLocation: sourceLocation) { event in
            if case .runFinished(let record) = event { return record }
            return nil
        }
    }

    /// When `job` runs next, as status shows it (ISO 8601, to the millisecond); nil when not planned.
    func nextRun(of job: String) async -> String? {
        (await engine.nextRunTimes()[job] ?? nil).map(Timestamp.iso8601)
    }

    /// Waits until the scheduler goes idle with its next wake at `expected` (to the millisecond).
    func expectWake(at expected: Date, sourceLocation: SourceLocation = #_sourceLocation) async {
        _ = await recorder.next(sourceLocation: sourceLocation) { event -> Bool? in
            if case .schedulerIdle(let wake?) = event, abs(wake.timeIntervalSince(expected)) < 0.002 { return true }
            return nil
        }
    }

    /// The next run that starts (of `job`, when given).
    func started(job name: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async -> (job: String, trigger: RunTrigger, attempt: Int)? {
        await recorder.next(sourceLocation: sourceLocation) { event in
            if case .runStarted(let job, _, let trigger, let attempt) = event, name == nil || name == job { return (job, trigger, attempt) }
            return nil
        }
    }
}

/// Every engine event in order, with a cursor per kind of wait.
actor EventRecorder {
    private var events: [EngineEvent] = []
    private var consumed: Set<Int> = []
    private var waiters: [UUID: (matches: @Sendable (EngineEvent) -> Bool, resume: @Sendable () -> Void)] = [:]

    func append(_ event: EngineEvent) {
        events.append(event)
        for (id, waiter) in waiters where waiter.matches(event) {
            waiters[id] = nil
            waiter.resume()
        }
    }

    /// The first not yet consumed event that `match` accepts, waiting up to 30 s of real time.
    func next<T: Sendable>(sourceLocation: SourceLocation, _ match: @escaping @Sendable (EngineEvent) -> T?) async -> T? {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            for index in events.indices where !consumed.contains(index) {
                if let value = match(events[index]) {
                    consumed.insert(index)
                    return value
                }
            }
            guard ContinuousClock.now < deadline else {
                Issue.record("no matching engine event within 30 s; events so far: \(events.count)", sourceLocation: sourceLocation)
                return nil
            }
            let id = UUID()
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let once = ResumeOnce(continuation)
                waiters[id] = ({ match($0) != nil }, { once.resume() })
                Task {
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    once.resume()
                }
            }
            waiters[id] = nil
        }
    }
}

private final class ResumeOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Void, Never>?

    init(_ continuation: CheckedContinuation<Void, Never>) {
        self.continuation = continuation
    }

    func resume() {
        lock.withLock {
            continuation?.resume()
            continuation = nil
        }
    }
}

extension Date {
    func plus(_ seconds: Double) -> Date { addingTimeInterval(seconds) }
}
