import CBatchdSystem
import Glibc

/// The threads that child watchers run on, kept for the next child rather than ended.
///
/// A thread per child is what a watcher needs (it blocks in `poll` for the child's whole life,
/// which must stay off Swift's small pool), but a thread that ends gives its stack back with
/// `madvise` or `munmap`, and in a process with a thread on every core that is a TLB shootdown
/// of every core, each time: in a burst of `/bin/true` runs those interrupts were a fifth of
/// batchd's CPU. So a thread that has watched its child waits for the next one; the most
/// recently idle is taken first, so the others stay idle.
///
/// Idle threads wait without a timeout: an idle daemon has no timer wake-ups, not even one per
/// thread after a burst. Threads idle for longer than `idleLifetime` are told to end when the
/// next child starts; so after a burst of sixty-four commands at midnight, the next run lets go
/// of the threads the burst left (each holds a few pages of stack, its read buffer and its eventfd).
///
/// Each thread keeps a `Kit` for the whole of its life, handed to every work it runs: an eventfd
/// to wait on (a watcher's cancellation writes to it) and a buffer to read output into. One of
/// each per run was two more system calls, and a 64 KiB allocation whose free consolidated the
/// heap; and a cancellation racing the end of a run could write to a descriptor just closed and
/// reused. Work must take a readable eventfd that it did not expect for a spurious wake.
final class WatcherThreads: @unchecked Sendable {  // every field is read and written under `mutex`
    static let shared = WatcherThreads()

    /// How long a thread may stay idle before the next child's start ends it (nanoseconds).
    let idleLifetime: UInt64

    /// The stack of a watcher thread: it needs about 40 KiB (the spawn lends the child 32 KiB
    /// of it; the read buffer is on the heap), and a stack is virtual memory until touched.
    static let stackSize = 256 * 1024

    /// What a thread keeps from one work to the next (see the type's comment).
    struct Kit {
        /// An eventfd (non-blocking), or -1 if the thread could not make one.
        var wakeFD: Int32
        /// 64 KiB, not zeroed.
        var readBuffer: UnsafeMutableRawBufferPointer
    }

    /// One idle thread: what it is given to run, and the semaphore it waits on for it.
    ///
    /// A semaphore of its own, not a condition variable on the shared mutex: a thread woken
    /// through a condition variable takes the mutex again before it returns, and with the pool
    /// handing out children and sixty-four watchers going idle, that was a second sleep, on
    /// the mutex, for most children (a burst of `/bin/true` runs: 4.7 context switches a
    /// child in the watcher threads; 3 are the wait for work, the `vfork` and the `poll`).
    /// `work` or `retire` is set before the post and read after the wait.
    private final class Idle {
        private let ready = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        var work: (@Sendable (Kit) -> Void)?
        var retire = false
        /// When it became idle (CLOCK_MONOTONIC nanoseconds).
        var since: UInt64 = 0

        init() {
            sem_init(ready, 0, 0)
        }

        deinit {
            sem_destroy(ready)
            ready.deallocate()
        }

        func wake() {
            sem_post(ready)
        }

        func waitForWake() {
            while sem_wait(ready) != 0 && errno == EINTR {}
        }
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Waiting threads, the most recently idle last.
    private var idle: [Idle] = []
    private var threadCount = 0

    /// The process's threads are `shared` (five seconds); tests make their own.
    init(idleLifetime: Duration = .seconds(5)) {
        self.idleLifetime = MonotonicTime.nanoseconds(in: idleLifetime)
        pthread_mutex_init(mutex, nil)
    }

    /// Runs `work` on an idle thread, or on a new one when none is idle, with the thread's kit.
    func run(_ work: @escaping @Sendable (Kit) -> Void) {
        pthread_mutex_lock(mutex)
        retireStaleThreads()
        if let thread = idle.popLast() {
            pthread_mutex_unlock(mutex)
            thread.work = work  // out of the idle list: nothing else touches it now
            thread.wake()
            return
        }
        threadCount += 1
        pthread_mutex_unlock(mutex)
        OSThread.start(name: "batchd-child", stackSize: Self.stackSize) { [self] in serve(first: work) }
    }

    /// Threads alive now, idle or not, and the idle ones (for tests).
    var counts: (live: Int, idle: Int) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return (threadCount, idle.count)
    }

    /// Tells the threads idle for longer than `idleLifetime` to end (under `mutex`). They are
    /// at the front: `idle` is in the order threads became idle.
    private func retireStaleThreads() {
        guard !idle.isEmpty else { return }
        let now = MonotonicTime.nanoseconds()
        let stale = idle.prefix { now - $0.since > idleLifetime }
        for thread in stale {
            thread.retire = true
            thread.wake()
        }
        idle.removeFirst(stale.count)
        threadCount -= stale.count
    }

    private func serve(first: @escaping @Sendable (Kit) -> Void) {
        var next: (@Sendable (Kit) -> Void)? = first
        let me = Idle()
        var kit = Kit(wakeFD: -1, readBuffer: .allocate(byteCount: 65_536, alignment: 16))
        defer {
            if kit.wakeFD >= 0 { close(kit.wakeFD) }
            kit.readBuffer.deallocate()
        }
        while let work = next {
            if kit.wakeFD < 0 { kit.wakeFD = CBatchd_eventfd() }
            work(kit)
            next = waitForWork(me)
        }
    }

    /// The next child's work for this thread, or nil when it is to end.
    private func waitForWork(_ me: Idle) -> (@Sendable (Kit) -> Void)? {
        pthread_mutex_lock(mutex)
        me.since = MonotonicTime.nanoseconds()
        idle.append(me)
        pthread_mutex_unlock(mutex)
        // One post for each stay in the idle list: whoever takes the thread out of it (`run`,
        // with work, or a retirement) sets `work` or `retire` and then posts.
        me.waitForWake()
        let work = me.retire ? nil : me.work
        me.work = nil
        return work
    }
}
