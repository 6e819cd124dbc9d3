import Synchronization

/// The timeouts of the runs in progress, watched by one sleeping task for all of them rather
/// than a task group and a timer per run: it sleeps until the earliest deadline, and a run that
/// ends takes its deadline out. With no run in progress nothing sleeps, so an idle daemon has no
/// wake-up pending here.
final class RunDeadlines: Sendable {
    /// What to do when a deadline passes; called with the lock held, so that a run that is
    /// ending (`end` waits for the lock) is never acted on after it has ended.
    typealias Expiry = @Sendable () -> Void

    private struct Watch {
        var deadline: ContinuousClock.Instant
        var expire: Expiry
    }

    private struct State {
        var watches: [UInt64: Watch] = [:]
        var nextToken: UInt64 = 0
        /// The deadline the sleeper sleeps until, and the sleeper.
        var armed: (deadline: ContinuousClock.Instant, sleeper: Task<Void, Never>)?
    }

    private let clock: any EngineClock
    private let state = Mutex(State())

    init(clock: any EngineClock) {
        self.clock = clock
    }

    /// Calls `expire` once `deadline` passes, unless `end` is called first with the token.
    func watch(until deadline: ContinuousClock.Instant, expire: @escaping Expiry) -> UInt64 {
        state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.watches[token] = Watch(deadline: deadline, expire: expire)
            if state.armed.map({ deadline < $0.deadline }) ?? true { arm(&state, until: deadline) }
            return token
        }
    }

    /// The run has ended: its deadline no longer matters. The last one out stops the sleeper.
    func end(_ token: UInt64) {
        let idle = state.withLock { state -> Task<Void, Never>? in
            state.watches[token] = nil
            guard state.watches.isEmpty, let armed = state.armed else { return nil }
            state.armed = nil
            return armed.sleeper
        }
        idle?.cancel()
    }

    /// Sleeps until `deadline` (replacing an earlier sleeper), then expires what is due. A
    /// deadline whose run has ended meanwhile only costs that one wake-up, while others run.
    private func arm(_ state: inout State, until deadline: ContinuousClock.Instant) {
        state.armed?.sleeper.cancel()
        let sleeper = Task { [self] in
            guard (try? await clock.sleep(until: deadline)) != nil else { return }
            expireDue()
        }
        state.armed = (deadline, sleeper)
    }

    private func expireDue() {
        let now = clock.now()
        state.withLock { state in
            for (token, watch) in state.watches where watch.deadline <= now {
                state.watches[token] = nil
                watch.expire()
            }
            // The sleeper that woke is done (one replaced it only for an earlier deadline,
            // which has come too).
            if let armed = state.armed, armed.deadline <= now { state.armed = nil }
            if let next = state.watches.values.map(\.deadline).min(), state.armed.map({ next < $0.deadline }) ?? true {
                arm(&state, until: next)
            }
        }
    }
}
