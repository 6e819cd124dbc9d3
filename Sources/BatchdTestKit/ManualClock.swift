import BatchdCore
import Foundation
import Synchronization

/// A clock that moves only when a test says so. Sleepers wake when `advance` passes their
/// deadline; the monotonic and wall-clock readings move together.
public final class ManualClock: EngineClock {
    private struct Sleeper {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var offset: Duration = .zero
        /// How far the wall clock was set away from the monotonic one (`setWall`).
        var wallStep: TimeInterval = 0
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    private let origin = ContinuousClock.now
    private let wallOrigin: Date

    public init(wall: Date) {
        wallOrigin = wall
    }

    public func now() -> ContinuousClock.Instant {
        origin + state.withLock { $0.offset }
    }

    public func wallNow() -> Date {
        state.withLock { wallOrigin.addingTimeInterval($0.offset.seconds + $0.wallStep) }
    }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= origin + state.offset { return .success(()) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Sets the wall clock to `wall`, forwards or back, as `date -s` does: the monotonic clock
    /// does not move, and no sleeper wakes.
    public func setWall(to wall: Date) {
        state.withLock { $0.wallStep += wall.timeIntervalSince(wallOrigin.addingTimeInterval($0.offset.seconds + $0.wallStep)) }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    public func advance(by duration: Duration) {
        let woken = state.withLock { state -> [Sleeper] in
            state.offset += duration
            let now = origin + state.offset
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for key in due.keys { state.sleepers[key] = nil }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in woken { sleeper.continuation.resume() }
    }

    /// Moves time forward to a wall-clock time (which must not be in the past).
    public func advance(to wall: Date) {
        let delta = wall.timeIntervalSince(wallNow())
        precondition(delta >= 0, "a manual clock does not go backwards")
        advance(by: .milliseconds(Int64((delta * 1000).rounded())))
    }
}
