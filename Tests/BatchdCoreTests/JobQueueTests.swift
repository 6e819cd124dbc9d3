@testable import BatchdCore
import Foundation
import Testing

/// The queue under batchd's executors (QuietExecutors), with closures for jobs and real
/// threads: order, deadlines, and the hand-offs between the timekeeper and idle threads, where
/// a lost wake-up would leave a job waiting for a later deadline (or for ever).
@Suite("JobQueue: the executors' threads")
struct JobQueueTests {
    typealias Job = @Sendable () -> Void

    /// What the jobs did, and a wait for a count of them that fails instead of hanging.
    final class Log: @unchecked Sendable {  // behind `condition`
        private let condition = NSCondition()
        private var entries: [(label: Int, at: UInt64)] = []

        func record(_ label: Int) {
            condition.withLock {
                entries.append((label, MonotonicTime.nanoseconds()))
                condition.broadcast()
            }
        }

        /// The entries once there are `count`, or nil after `seconds`.
        func wait(for count: Int, seconds: Double = 5) -> [(label: Int, at: UInt64)]? {
            let deadline = Date().addingTimeInterval(seconds)
            return condition.withLock {
                while entries.count < count {
                    if !condition.wait(until: deadline) { return nil }
                }
                return entries
            }
        }
    }

    func queue(threads: Int) -> JobQueue<Job> {
        JobQueue<Job>(threads: threads, name: "test-queue") { $0() }
    }

    @Test func readyJobsRunFirstInFirstOut() throws {
        let queue = queue(threads: 1), log = Log()
        for label in 0..<1_000 { queue.enqueue { log.record(label) } }
        let entries = try #require(log.wait(for: 1_000))
        #expect(entries.map(\.label) == Array(0..<1_000))
    }

    @Test func delayedJobsRunInDeadlineOrderAndNeverEarly() throws {
        let queue = queue(threads: 1), log = Log()
        let enqueued = MonotonicTime.nanoseconds()
        for milliseconds in [50, 10, 30, 20, 40] {
            queue.enqueue({ log.record(milliseconds) }, after: .milliseconds(milliseconds))
        }
        let entries = try #require(log.wait(for: 5))
        #expect(entries.map(\.label) == [10, 20, 30, 40, 50])
        for entry in entries {
            #expect(entry.at >= enqueued + UInt64(entry.label) * 1_000_000, "job due after \(entry.label) ms ran early")
        }
    }

    @Test func aSoonerDeadlineWakesTheTimekeeper() throws {
        // The only thread waits for a deadline an hour away; jobs due in 2 ms must not wait
        // with it. Each one's thread goes back to that wait, and the next must wake it again.
        let queue = queue(threads: 1), log = Log()
        queue.enqueue({ log.record(3_600) }, after: .seconds(3_600))
        for label in 1...20 {
            queue.enqueue({ log.record(label) }, after: .milliseconds(2))
            _ = try #require(log.wait(for: label), "job \(label), due in 2 ms, waited behind the hour-long deadline")
        }
        #expect(log.wait(for: 20)?.map(\.label) == Array(1...20))
    }

    @Test func aReadyJobIsTakenWhileTheOnlyThreadKeepsTime() throws {
        // With no idle thread, a ready job must wake the timekeeper (it did not, once). The
        // first ready job makes the thread start; once it has run, the thread goes back to
        // keeping time for the hour-long deadline, and the second must still get through.
        let queue = queue(threads: 1), log = Log()
        queue.enqueue({ log.record(3_600) }, after: .seconds(3_600))
        queue.enqueue { log.record(1) }
        _ = try #require(log.wait(for: 1))
        for label in 2...20 {
            queue.enqueue { log.record(label) }
            _ = try #require(log.wait(for: label), "ready job \(label) waited for the timekeeper's deadline")
        }
        #expect(log.wait(for: 20)?.map(\.label) == Array(1...20))
    }

    @Test func jobsFromManyThreadsEachRunOnce() throws {
        let queue = queue(threads: 2), log = Log()
        let producers = 4, perProducer = 2_500
        DispatchQueue.concurrentPerform(iterations: producers) { producer in
            for index in 0..<perProducer {
                let label = producer * perProducer + index
                if index % 10 == 0 {
                    queue.enqueue({ log.record(label) }, after: .milliseconds(index % 7))
                } else {
                    queue.enqueue { log.record(label) }
                }
            }
        }
        let entries = try #require(log.wait(for: producers * perProducer, seconds: 20))
        #expect(entries.count == producers * perProducer)
        #expect(Set(entries.map(\.label)) == Set(0..<producers * perProducer))
    }
}
