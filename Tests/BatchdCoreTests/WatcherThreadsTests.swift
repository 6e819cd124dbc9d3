@testable import BatchdCore
import Glibc
import Synchronization
import Testing

/// Child watchers run on threads that are kept for the next child (a thread's end is a TLB
/// shootdown of every core) and let go of by the next start after they idled too long.
@Suite("Watcher threads kept between children")
struct WatcherThreadsTests {
    /// A number for each thread, given the first time the thread asks (pthread ids are no
    /// good: a new thread gets the id of the ended one whose stack it reuses).
    static let threadNumber: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    static let numbersGiven = Atomic<Int>(0)

    static func currentThreadNumber() -> Int {
        if let number = pthread_getspecific(threadNumber) { return Int(bitPattern: number) }
        let number = numbersGiven.add(1, ordering: .relaxed).newValue
        pthread_setspecific(threadNumber, UnsafeRawPointer(bitPattern: number))
        return number
    }

    /// Runs `work` on `threads`, and returns the number of the thread it ran on once that
    /// thread is idle again (it resumes the caller just before it goes idle).
    func runAndWaitForIdle(_ threads: WatcherThreads) async -> Int {
        let id = await withCheckedContinuation { continuation in
            threads.run { _ in continuation.resume(returning: Self.currentThreadNumber()) }
        }
        let deadline = ContinuousClock.now + .seconds(30)  // a bound for a starved pool, not a wait
        while threads.counts.idle < threads.counts.live, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(1))
        }
        return id
    }

    @Test func aThreadThatWatchedOneChildWatchesTheNext() async {
        let threads = WatcherThreads(idleLifetime: .seconds(3600))
        var ids: Set<Int> = []
        for _ in 0..<20 { ids.insert(await runAndWaitForIdle(threads)) }
        #expect(ids.count == 1, "20 runs one after the other used \(ids.count) threads")
        #expect(threads.counts == (live: 1, idle: 1))
    }

    @Test func aThreadIdleTooLongIsLetGoOfByTheNextStart() async {
        let threads = WatcherThreads(idleLifetime: .zero)
        let first = await runAndWaitForIdle(threads)
        #expect(threads.counts == (live: 1, idle: 1))
        // The next start finds the idle thread stale: it ends, and a new one runs the work.
        let second = await runAndWaitForIdle(threads)
        #expect(second != first)
        #expect(threads.counts == (live: 1, idle: 1))
    }
}
