@testable import BatchdCore
import Synchronization
import Testing

/// When the pages HTTP requests mapped are given back (`RequestPageRelease`): once per spell of
/// requests, after a whole idle delay with no answer in it, and never while the
/// engine is busy. The idle delay is a timer the test ends itself (`ManualTimers`), and the
/// quiet check and the release report on the same stream, so the order of events is the proof:
/// no clock is raced (an earlier version paced real answers 100 ms apart, and a loaded CI
/// machine stretched one pause past the delay). The release itself is tested by
/// ProcessMemoryTests, the whole path on the real binary by
/// HTTPDaemonTests.thePagesARequestMappedGoBackOnceRequestsStop.
@Suite("Giving back the pages requests mapped", .timeLimit(.minutes(1)))  // an awaited event that never comes fails, not hangs
struct RequestPageReleaseTests {
    enum Event: Sendable, Equatable { case armed(Int), askedIfQuiet, released }

    /// Sleeps that end when the test fires them (or throw when cancelled), each announced on
    /// the event stream with its number.
    final class ManualTimers: Sendable {
        private struct State { var next = 1; var sleeping: [Int: CheckedContinuation<Void, any Error>] = [:] }
        private let state = Mutex(State())
        private let events: AsyncStream<Event>.Continuation

        init(events: AsyncStream<Event>.Continuation) { self.events = events }

        func sleep(_: Duration) async throws {
            let number = state.withLock { state in defer { state.next += 1 }; return state.next }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { continuation in
                    let cancelled = state.withLock { state in
                        if Task.isCancelled { return true }
                        state.sleeping[number] = continuation
                        return false
                    }
                    if cancelled { continuation.resume(throwing: CancellationError()) } else { events.yield(.armed(number)) }
                }
            } onCancel: {
                state.withLock { $0.sleeping.removeValue(forKey: number) }?.resume(throwing: CancellationError())
            }
        }

        /// Ends sleep `number` as if its delay had passed; false when it is not sleeping.
        @discardableResult
        func fire(_ number: Int) -> Bool {
            guard let sleeping = state.withLock({ $0.sleeping.removeValue(forKey: number) }) else { return false }
            sleeping.resume()
            return true
        }
    }

    /// A running release whose quiet check answers `quiet`, its timers, and its events.
    static func started(quiet: Bool) -> (RequestPageRelease, ManualTimers, AsyncStream<Event>.Iterator, Task<Void, Never>) {
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        let timers = ManualTimers(events: sink)
        let release = RequestPageRelease(
            idleDelay: .seconds(5),
            isQuiet: { sink.yield(.askedIfQuiet); return quiet },
            release: { sink.yield(.released) },
            sleep: { try await timers.sleep($0) })
        return (release, timers, events.makeAsyncIterator(), Task { await release.run() })
    }

    @Test func aSpellOfAnswersIsReleasedOnceAWholeDelayAfterItsLast() async throws {
        let (release, timers, stream, running) = Self.started(quiet: true)
        var events = stream
        defer { running.cancel() }

        release.requestAnswered()
        #expect(await events.next() == .armed(1), "an answer starts the idle delay")
        release.requestAnswered()
        // An answer during the delay: once it ends, a whole delay more, and no release in
        // between. (That an answer arms no timer of its own is a matter of cost, measured by
        // bench/run-http: a timer an answer was 80 MB and 60 % of the rate under wrk.)
        timers.fire(1)
        #expect(await events.next() == .armed(2))
        timers.fire(2)
        #expect(await events.next() == .askedIfQuiet)
        #expect(await events.next() == .released)

        // One release per spell: the next answer arms a new delay, with no second release before it.
        release.requestAnswered()
        #expect(await events.next() == .armed(3))
        timers.fire(3)
        #expect(await events.next() == .askedIfQuiet)
        #expect(await events.next() == .released)
    }

    @Test func nothingIsReleasedWhileTheEngineIsBusy() async throws {
        let (release, timers, stream, running) = Self.started(quiet: false)
        var events = stream
        defer { running.cancel() }
        for delay in 1...2 {
            release.requestAnswered()
            #expect(await events.next() == .armed(delay))
            timers.fire(delay)
            // Asked, told "busy", and no release: the next event is the next spell's delay.
            #expect(await events.next() == .askedIfQuiet)
        }
        release.requestAnswered()
        #expect(await events.next() == .armed(3), "pages given back while the engine is busy")
    }
}
