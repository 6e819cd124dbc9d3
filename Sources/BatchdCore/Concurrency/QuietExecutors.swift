@_spi(ExperimentalCustomExecutors) @_spi(ExperimentalScheduling) import _Concurrency
import Glibc

/// Swift concurrency's executors for batchd, in place of libdispatch's.
///
/// On Linux the default global executor is libdispatch's thread pool, and the first worker
/// thread it starts arms a one-second timer that samples the pool from /proc for the rest of
/// the process's life (its "workqueue monitor"): an idle daemon would wake once a second with
/// no job due. These executors run the same work on a fixed set of threads (one per CPU, like
/// the cooperative pool) that sleep in the kernel when there is nothing to do. They use the
/// standard library's custom-executor hooks (`ExecutorFactory`), which are still SPI in Swift
/// 6.3; `install()` must run before the first task is created.
public enum QuietExecutors {
    public static func install() {
        _createExecutors(factory: Factory.self)
    }

    struct Factory: ExecutorFactory {
        static let mainExecutor: any MainExecutor = MainThreadExecutor()
        static let defaultExecutor: any TaskExecutor = PoolExecutor(threads: max(2, activeProcessors()))
    }

    private static func activeProcessors() -> Int {
        Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }
}

/// Where tasks run unless an actor says otherwise.
final class PoolExecutor: TaskExecutor, SchedulingExecutor, @unchecked Sendable {  // the queue locks
    private var queue: JobQueue<UnownedJob>!

    init(threads: Int) {
        queue = JobQueue(threads: threads, name: "batchd-pool") { [unowned self] job in
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        queue.enqueue(UnownedJob(job))
    }

    /// `Task.sleep`: the job waits in the queue's timed list. Only clocks whose durations are
    /// `Duration` exist in batchd (continuous and suspending, both monotonic here).
    func enqueue<C: Clock>(_ job: consuming ExecutorJob, after delay: C.Duration, tolerance: C.Duration?, clock: C) {
        queue.enqueue(UnownedJob(job), after: (delay as? Duration) ?? .zero)
    }
}

/// The main actor's executor. batchd's `main` waits on a semaphore and never gives the main
/// thread to an executor, so main-actor work (none in batchd; a library could have some) runs
/// on a thread of its own, started with the first such job.
final class MainThreadExecutor: MainExecutor, @unchecked Sendable {  // the queue locks
    private var queue: JobQueue<UnownedJob>!

    init() {
        queue = JobQueue(threads: 1, name: "batchd-main") { [unowned self] job in
            job.runSynchronously(on: self.asUnownedSerialExecutor())
        }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        queue.enqueue(UnownedJob(job))
    }

    func run() throws {
        // Never called: `main` does not hand the main thread over (see the type's comment).
        preconditionFailure("batchd's main executor has no run loop")
    }

    func stop() {}
}
