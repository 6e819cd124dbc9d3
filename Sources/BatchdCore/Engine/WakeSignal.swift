import Synchronization

/// Wakes the scheduler's sleep at once (a trigger, a finished run, a reload, shutdown).
/// A signal sent while nobody waits is kept, so it is never lost between two sleeps.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns when signalled, or when `sleep` returns (not when it throws: it is cancelled
    /// once the wait is over), whichever comes first. The sleep is a task of its own that
    /// signals this same wake, so the waiter waits on one continuation (a task group racing
    /// the two cost two more task resumptions). A sleep that ends just as something else
    /// signalled leaves a signal behind: the next `wait` then returns at once.
    func wait(orUntil sleep: @escaping @Sendable () async throws -> Void) async {
        let timer = Task { [self] in
            guard (try? await sleep()) != nil else { return }
            signal()
        }
        await wait()
        timer.cancel()
    }

    /// Whether a signal is waiting: the next `wait` returns at once.
    var isPending: Bool { state.withLock { $0.pending } }

    /// Returns when signalled, or when the calling task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
