import CBatchdSystem
import FoundationEssentials
import Glibc
import Synchronization

/// Sleeps that end on time. `Task.sleep` on Linux wakes about 0.3 ms late (dispatch timer
/// slack), and poll's own timeouts get 0.1% of their length as slack (1 ms on a one-second
/// sleep); batchd's target is starts within 0.4 ms at p99. One thread keeps every deadline,
/// arms a timerfd for the nearest one and waits on it and an eventfd (new deadlines); with no
/// deadline the timerfd is disarmed: an idle daemon has no timer wakeups at all.
final class PreciseTimer: Sendable {
    static let shared = PreciseTimer()

    private struct Sleeper {
        var deadline: ContinuousClock.Instant
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
        /// The deadline the timer thread is waiting for (nil: disarmed, or about to look again).
        var armedFor: ContinuousClock.Instant?
    }

    /// How early the timer wakes before a deadline, to spin the remainder.
    static let spinWindow: Duration = .microseconds(250)
    /// The last stretch before a deadline is slept in steps of `approachStep`, not in one.
    ///
    /// A VM's sleep ends when the host runs the idle vCPU again, and the longer it was idle the
    /// likelier that comes late; a sleep of the timer's that ends past the 850 µs lead
    /// (`resumeLead` and `spinWindow`) makes a whole round of starts late. So the timer sleeps
    /// until `approach` before the deadline, then in 1 ms steps: a late end of the long sleep
    /// still lands before the deadline, and the last, short sleep ends late less often. Measured
    /// here on a busy host, both ways interleaved in one C loop, 1,460 deadlines each: 49 sleeps
    /// ended past the deadline in one sleep, 33 in steps (a modest gain; the host's worst stalls
    /// beat both). About ten more wake-ups per due time, none between due times.
    static let approach: Duration = .milliseconds(10)
    static let approachStep: Duration = .milliseconds(1)
    /// How early a sleeper is resumed: a resumed task waits for a pool thread to wake and take
    /// it (100–200 µs on this kind of VM, and now and then several times that), so it is
    /// resumed that much before its deadline and spins the rest itself, on the pool thread that
    /// took it (at most this long, once per due time). Paired runs of bench/run's precision
    /// probe: p99 182 µs with 150 µs, 92 µs with 600 µs (6 rounds each).
    static let resumeLead: Duration = .microseconds(600)

    private let state = Mutex(State())
    private let wakeFD: Int32
    private let timerFD: Int32

    /// The process's one timer is `shared`; tests make their own.
    init() {
        wakeFD = CBatchd_eventfd()
        timerFD = CBatchd_timerfd_create()
        OSThread.start(name: "batchd-timer") { [self] in loop() }
    }

    /// Returns at `deadline`: resumed up to `resumeLead` before it, this task spins the rest
    /// (not when it is cancelled: then it returns at once, throwing).
    func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await sleep(untilAbout: deadline)
        Self.waitOut(deadline)
    }

    /// Returns up to `resumeLead` before `deadline`, for a sleeper that hands the wake-up on to
    /// another task (the scheduler's deadline task signals its loop) and lets that one spin the
    /// rest with `waitOut`: otherwise it pays for a second thread wake-up after the deadline.
    func sleep(untilAbout deadline: ContinuousClock.Instant) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (registered, sooner) = state.withLock { state -> (Bool, Bool) in
                    guard !Task.isCancelled else { return (false, false) }
                    state.sleepers[id] = Sleeper(deadline: deadline, id: id, continuation: continuation)
                    // The thread need not look again for a deadline after the one it waits for
                    // (a run's timeout, an hour away, while the next schedule is due sooner).
                    return (true, state.armedFor.map { deadline < $0 } ?? true)
                }
                if !registered {
                    continuation.resume(throwing: CancellationError())
                } else if sooner {
                    wake()
                }
            }
        } onCancel: {
            // If the thread waits for this very deadline, it must look again now: otherwise it
            // would wake when that deadline passes (a run's timeout, an hour after the run
            // ended) with nothing due.
            let (sleeper, armedForIt) = state.withLock { state -> (Sleeper?, Bool) in
                let sleeper = state.sleepers.removeValue(forKey: id)
                return (sleeper, sleeper != nil && state.armedFor == sleeper?.deadline)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
            if armedForIt { wake() }
        }
    }

    /// Spins until `deadline` when it is at most `resumeLead` away (a sleeper resumed early);
    /// returns at once otherwise, and when the task is cancelled.
    static func waitOut(_ deadline: ContinuousClock.Instant) {
        guard ContinuousClock.now.duration(to: deadline) <= resumeLead else { return }
        while !Task.isCancelled, ContinuousClock.now < deadline {}
    }

    /// The deadline the timer thread waits for (nil: none).
    var armedDeadline: ContinuousClock.Instant? { state.withLock { $0.armedFor } }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// How long the timer thread sleeps when `remaining` is left until it resumes the nearest
    /// sleeper; nil: close enough to spin. Most of the way in one sleep, the last `approach` in
    /// steps, the last `spinWindow` spun.
    static func sleepLength(before remaining: Duration) -> Duration? {
        guard remaining > spinWindow else { return nil }
        if remaining > approach + spinWindow { return remaining - approach - spinWindow }
        return min(approachStep, remaining - spinWindow)
    }

    private func loop() {
        _ = CBatchd_set_timer_slack(1_000)
        while true {
            let now = ContinuousClock.now
            let due = state.withLock { state -> [Sleeper] in
                state.armedFor = nil  // looking again: every new deadline wakes the thread meanwhile
                let ready = state.sleepers.values.filter { $0.deadline - Self.resumeLead <= now }
                for sleeper in ready { state.sleepers[sleeper.id] = nil }
                return ready
            }
            for sleeper in due { sleeper.continuation.resume() }
            let nearest = state.withLock { state -> ContinuousClock.Instant? in
                let nearest = state.sleepers.values.map(\.deadline).min()
                state.armedFor = nearest
                return nearest
            }
            var nanoseconds: Int64 = 0  // disarmed
            if let nearest {
                guard let sleep = Self.sleepLength(before: ContinuousClock.now.duration(to: nearest - Self.resumeLead)) else {
                    // Close enough: spin the rest rather than trust a kernel wakeup (about
                    // 0.15 ms late on small VMs). At most `spinWindow` of CPU per deadline.
                    while ContinuousClock.now < nearest - Self.resumeLead {}
                    continue
                }
                let (seconds, attoseconds) = sleep.components
                nanoseconds = max(1, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
            }
            _ = CBatchd_timerfd_arm(timerFD, nanoseconds)
            let ready = CBatchd_wait_either(wakeFD, timerFD)
            var value: UInt64 = 0
            if ready & 1 != 0 { _ = read(wakeFD, &value, 8) }
            if ready & 2 != 0 { _ = read(timerFD, &value, 8) }
        }
    }
}
