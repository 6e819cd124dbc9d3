@testable import BatchdCore
import BatchdTestKit
import Foundation
import Synchronization
import Testing

/// Every run's timeout on one sleeper (`RunDeadlines`), on a manual clock.
@Suite("Run deadlines on one sleeper")
struct RunDeadlinesTests {
    /// The deadlines and a stream of the names whose expiry was called, in order.
    func watcher() -> (RunDeadlines, ManualClock, AsyncStream<String>, AsyncStream<String>.Continuation) {
        let clock = ManualClock(wall: Date(timeIntervalSince1970: 1_764_590_400))
        let (expired, continuation) = AsyncStream<String>.makeStream()
        return (RunDeadlines(clock: clock), clock, expired, continuation)
    }

    @Test func eachDeadlineExpiresOnceInOrderAndAnEarlierOneRearmsTheSleeper() async {
        let (deadlines, clock, expired, sink) = watcher()
        let start = clock.now()
        _ = deadlines.watch(until: start + .seconds(10)) { sink.yield("ten") }
        _ = deadlines.watch(until: start + .seconds(20)) { sink.yield("twenty") }
        // Earlier than the one slept on: the sleeper must be replaced.
        _ = deadlines.watch(until: start + .seconds(5)) { sink.yield("five") }
        var names = expired.makeAsyncIterator()
        clock.advance(by: .seconds(6))
        #expect(await names.next() == "five")
        clock.advance(by: .seconds(5))
        #expect(await names.next() == "ten")
        clock.advance(by: .seconds(10))
        #expect(await names.next() == "twenty")
        sink.finish()
        #expect(await names.next() == nil)  // nothing expired twice
    }

    @Test func anEndedRunNeverExpiresAndTheOthersStillDo() async {
        let (deadlines, clock, expired, sink) = watcher()
        let start = clock.now()
        let first = deadlines.watch(until: start + .seconds(5)) { sink.yield("ended") }
        _ = deadlines.watch(until: start + .seconds(8)) { sink.yield("running") }
        deadlines.end(first)
        var names = expired.makeAsyncIterator()
        // The sleeper wakes for the ended run's deadline, finds nothing due, sleeps on.
        clock.advance(by: .seconds(6))
        clock.advance(by: .seconds(3))
        #expect(await names.next() == "running")
    }

    @Test func whenTheLastRunEndsNothingIsLeftToExpire() async {
        let (deadlines, clock, expired, sink) = watcher()
        let start = clock.now()
        let token = deadlines.watch(until: start + .seconds(5)) { sink.yield("ended") }
        deadlines.end(token)
        clock.advance(by: .seconds(10))
        // A later run gets a sleeper of its own and is the only one to expire.
        _ = deadlines.watch(until: clock.now() + .seconds(1)) { sink.yield("later") }
        clock.advance(by: .seconds(2))
        var names = expired.makeAsyncIterator()
        #expect(await names.next() == "later")
    }
}
