import Glibc

/// A lock for state that dozens of threads touch at once: a plain `pthread_mutex_t`, which
/// sleeps in the kernel as soon as it is taken.
///
/// Swift's `Mutex` on Linux spins before it sleeps, and sleeps on a priority-inheritance futex.
/// With a watcher thread per running command (sixty-four of them on two cores), the thread
/// holding the lock is often not running, and the others spun: a tenth of batchd's CPU in a
/// burst of `/bin/true` runs went to `_MutexHandle._lockSlow` on the child registry's lock.
final class PlainMutex<State>: @unchecked Sendable {  // `state` is only touched under `mutex`
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var state: State

    init(_ state: State) {
        self.state = state
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}
