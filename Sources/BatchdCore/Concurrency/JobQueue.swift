@_spi(ExperimentalCustomExecutors) import _Concurrency
import CBatchdSystem
import Glibc

/// The jobs of one executor and the threads that run them (generic over the job, so that tests
/// can queue closures; the executors queue `UnownedJob`s): a FIFO of ready jobs, a list of
/// jobs due later (sorted by deadline on the monotonic clock), one mutex, and two condition
/// variables: idle threads wait on `work` without a timeout; at most one thread, the
/// timekeeper, waits on `timer` until the nearest deadline. With nothing ready and nothing
/// due, every thread sleeps in the kernel until an `enqueue`: no timer wakes the process.
final class JobQueue<Job>: @unchecked Sendable {  // every field is read and written under `mutex`
    private struct Timed {
        var deadline: UInt64  // CLOCK_MONOTONIC, nanoseconds
        var job: Job
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let work = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let timer = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Ready jobs, first in first out: appended to `incoming`, taken from the end of `outgoing`.
    private var incoming: [Job] = []
    private var outgoing: [Job] = []
    /// Jobs due later, the latest first, so that the nearest is `removeLast`.
    private var timed: [Timed] = []
    private var idleThreads = 0
    private var hasTimekeeper = false
    private var started = false
    private let threadCount: Int
    private let name: String
    private let run: @Sendable (Job) -> Void

    /// `threads` threads named `name-N` start with the first job (so that a process that never
    /// runs async work starts none) and run each job with `run`.
    init(threads: Int, name: String, run: @escaping @Sendable (Job) -> Void) {
        threadCount = threads
        self.name = name
        self.run = run
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(work, &attributes)
        pthread_cond_init(timer, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    func enqueue(_ job: Job) {
        pthread_mutex_lock(mutex)
        incoming.append(job)
        startThreadsIfNeeded()
        // An idle thread takes it; failing that, the timekeeper (which then hands its watch on).
        if idleThreads > 0 { pthread_cond_signal(work) } else if hasTimekeeper { pthread_cond_signal(timer) }
        pthread_mutex_unlock(mutex)
    }

    func enqueue(_ job: Job, after delay: Duration) {
        let deadline = MonotonicTime.nanoseconds() + MonotonicTime.nanoseconds(in: delay)  // past is now
        pthread_mutex_lock(mutex)
        let index = timed.firstIndex { $0.deadline <= deadline } ?? timed.endIndex
        timed.insert(Timed(deadline: deadline, job: job), at: index)
        startThreadsIfNeeded()
        if index == timed.endIndex - 1 {  // the nearest deadline changed
            if hasTimekeeper { pthread_cond_signal(timer) } else if idleThreads > 0 { pthread_cond_signal(work) }
        }
        pthread_mutex_unlock(mutex)
    }

    private func startThreadsIfNeeded() {
        guard !started else { return }
        started = true
        for number in 1...threadCount {
            OSThread.start(name: "\(name)-\(number)") { self.serve() }
        }
    }

    private func serve() {
        JobQueue.blockAsynchronousSignals()
        pthread_mutex_lock(mutex)
        while true {
            if let job = nextReadyJob() {
                pthread_mutex_unlock(mutex)
                run(job)
                pthread_mutex_lock(mutex)
                continue
            }
            if let nearest = timed.last?.deadline, !hasTimekeeper {
                hasTimekeeper = true
                var until = timespec(tv_sec: Int(nearest / 1_000_000_000), tv_nsec: Int(nearest % 1_000_000_000))
                pthread_cond_timedwait(timer, mutex, &until)
                hasTimekeeper = false
                // Another thread may now keep time while this one runs what came due.
                if !timed.isEmpty, idleThreads > 0 { pthread_cond_signal(work) }
            } else {
                idleThreads += 1
                pthread_cond_wait(work, mutex)
                idleThreads -= 1
            }
        }
    }

    /// Moves the jobs that came due to the ready line, then takes the first ready one.
    private func nextReadyJob() -> Job? {
        if !timed.isEmpty {
            let now = MonotonicTime.nanoseconds()
            while let last = timed.last, last.deadline <= now {
                incoming.append(timed.removeLast().job)
            }
        }
        if outgoing.isEmpty {
            guard !incoming.isEmpty else { return nil }
            outgoing = incoming.reversed()
            incoming.removeAll(keepingCapacity: true)
        }
        return outgoing.popLast()
    }

    /// The threads that run Swift code never take a signal meant for the process: the daemon
    /// reads its signals from a signalfd, and a SIGTERM taken by a pool thread would kill it.
    /// (libdispatch's workers do the same.) Faults stay deliverable.
    private static func blockAsynchronousSignals() {
        var set = sigset_t()
        sigfillset(&set)
        for fault in [SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT] { sigdelset(&set, fault) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }
}
