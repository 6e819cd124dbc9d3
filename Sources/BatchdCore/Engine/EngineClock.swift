import FoundationEssentials
import Glibc

/// Time as the engine sees it, injected so that tests drive a manual clock instead of sleeping.
///
/// Two readings: a monotonic instant (interval schedules, timeouts: a wall-clock jump neither
/// skips nor doubles them) and the wall clock (cron, timestamps in records).
public protocol EngineClock: Sendable {
    func now() -> ContinuousClock.Instant
    func wallNow() -> Date
    /// Returns at `deadline`, or throws `CancellationError` when the task is cancelled first.
    func sleep(until deadline: ContinuousClock.Instant) async throws
    /// Returns at or shortly before `deadline` (the real clock: up to a fraction of a
    /// millisecond before), for a task that only passes the wake-up on; whoever acts on it
    /// calls `waitOut(deadline)` first.
    func sleep(untilAbout deadline: ContinuousClock.Instant) async throws
    /// Returns at `deadline` when it is a fraction of a millisecond away, or at once.
    func waitOut(_ deadline: ContinuousClock.Instant)
}

extension EngineClock {
    /// The monotonic instant that corresponds to a wall-clock time, as of now, to the
    /// nanosecond. (To the millisecond, as it was, a cron fire time came out up to half a
    /// millisecond early on the wall clock: an every-second job's runs were recorded at
    /// 14:11:07.999 for 14:11:08 more than half the time, and a restart just after one took
    /// that for a missed run.) Dates further than a century away are taken as a century away:
    /// they only ever mean "long ago" or "not soon", and nanoseconds past 292 years overflow.
    func instant(for date: Date) -> ContinuousClock.Instant {
        let century = 100 * 365.25 * 86_400.0
        let seconds = min(max(date.timeIntervalSince(wallNow()), -century), century)
        let whole = seconds.rounded(.down)
        return now() + .seconds(Int64(whole)) + .nanoseconds(Int64(((seconds - whole) * 1e9).rounded()))
    }

    /// The wall-clock time that corresponds to a monotonic instant, as of now.
    func wallTime(for instant: ContinuousClock.Instant) -> Date {
        wallNow().addingTimeInterval(now().duration(to: instant).seconds)
    }

    /// A clock whose sleeps end exactly on time (the tests' manual clock) needs neither.
    public func sleep(untilAbout deadline: ContinuousClock.Instant) async throws {
        try await sleep(until: deadline)
    }

    public func waitOut(_ deadline: ContinuousClock.Instant) {}

    func sleep(for duration: Duration) async throws {
        try await sleep(until: now() + duration)
    }
}

/// The real clocks: `ContinuousClock` (monotonic, counting suspend) and `Date`, with sleeps
/// that end on time (see `PreciseTimer`).
public struct SystemClock: EngineClock {
    public init() {}

    public func now() -> ContinuousClock.Instant { .now }

    public func wallNow() -> Date { Date() }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await PreciseTimer.shared.sleep(until: deadline)
    }

    public func sleep(untilAbout deadline: ContinuousClock.Instant) async throws {
        try await PreciseTimer.shared.sleep(untilAbout: deadline)
    }

    public func waitOut(_ deadline: ContinuousClock.Instant) {
        PreciseTimer.waitOut(deadline)
    }
}
