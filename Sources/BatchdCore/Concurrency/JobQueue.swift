@_spi(ExperimentalCustomExecutors) import _Concurrency
import CBatchdSystem
import Glibc
import Synchronization

/// The jobs of one executor and the threads that run them (generic over the job, so that tests
/// can queue closures; the executors queue `UnownedJob`s): a FIFO of ready jobs, a list of
/// jobs due later (sorted by deadline on the monotonic clock), one mutex, and two condition
/// variables: idle threads wait on `work` without a timeout; at most one thread, the
/// timekeeper, waits on `timer` until the nearest deadline. With nothing ready and nothing
/// due, every thread sleeps in the kernel until an `enqueue`: no timer wakes the process.
///
/// A thread that has just run a job and finds nothing ready first spins for `spinWindow`
/// (watching `enqueued`, with the mutex released) before it sleeps, and an `enqueue` wakes no
/// sleeper while a thread spins. A run's work is a chain of short jobs (each actor hop is one),
/// so the next job usually comes within microseconds; without the spin, each hop put one
/// thread to sleep on a futex and woke the other: a seventh of the CPU of a burst of no-op
/// runs went to those wakeups. An idle process still sleeps: the spin follows a job, once.
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
    /// Threads spinning for the next job (at most one: a second would only burn a core).
    private var spinningThreads = 0
    /// Counts enqueues, so that a spinning thread sees one without taking the mutex.
    private let enqueued = Atomic<UInt64>(0)
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
        enqueued.add(1, ordering: .releasing)
        startThreadsIfNeeded()
        // A spinning thread takes it; failing that an idle one, then the timekeeper (which then
        // hands its watch on).
        if spinningThreads == 0 {
            if idleThreads > 0 { pthread_cond_signal(work) } else if hasTimekeeper { pthread_cond_signal(timer) }
        }
        pthread_mutex_unlock(mutex)
    }

    func enqueue(_ job: Job, after delay: Duration) {
        let deadline = MonotonicTime.nanoseconds() + MonotonicTime.nanoseconds(in: delay)  // past is now
        pthread_mutex_lock(mutex)
        let index = timed.firstIndex { $0.deadline <= deadline } ?? timed.endIndex
        timed.insert(Timed(deadline: deadline, job: job), at: index)
        enqueued.add(1, ordering: .releasing)
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
        var ranSinceSpin = false
        while true {
            if let job = nextReadyJob() {
                pthread_mutex_unlock(mutex)
                run(job)
                pthread_mutex_lock(mutex)
                ranSinceSpin = true
                continue
            }
            if ranSinceSpin, spinningThreads == 0 {
                ranSinceSpin = false
                spinForNextJob()
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

    /// Called and returns with `mutex` held; spins without it until an enqueue, `spinWindow`
    /// or the nearest timed job's deadline, whichever comes first.
    private func spinForNextJob() {
        let seen = enqueued.load(ordering: .acquiring)
        var until = MonotonicTime.nanoseconds() + spinWindow
        if let nearest = timed.last?.deadline { until = min(until, nearest) }
        spinningThreads += 1
        pthread_mutex_unlock(mutex)
        var round = 0
        while enqueued.load(ordering: .acquiring) == seen {
            CBatchd_cpu_relax()
            round += 1
            if round % 32 == 0, MonotonicTime.nanoseconds() >= until { break }
        }
        pthread_mutex_lock(mutex)
        spinningThreads -= 1
    }

    /// How long a thread that ran out of jobs waits for the next one before it sleeps, in ns.
    private let spinWindow: UInt64 = 50_000

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
