@testable import BatchdCore
import Synchronization
import Testing

/// When the pages HTTP requests mapped are given back (`RequestPageRelease`): once per spell of
/// requests, a whole idle delay after its last answer, and never while the engine is busy. The
/// release and the quiet check are closures here, so the test sees each call and its time; the
/// release itself (`ProcessMemory.releaseMemory`) is tested by ProcessMemoryTests, and the whole
/// path on the real binary by HTTPDaemonTests.thePagesARequestMappedGoBackOnceRequestsStop.
@Suite("Giving back the pages requests mapped")
struct RequestPageReleaseTests {
    enum Event: Sendable { case askedIfQuiet, released(ContinuousClock.Instant) }

    /// A release whose calls arrive on `events`; `quiet` is what its quiet check answers.
    static func watched(idleDelay: Duration, quiet: Bool) -> (RequestPageRelease, AsyncStream<Event>) {
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        let release = RequestPageRelease(
            idleDelay: idleDelay,
            isQuiet: { sink.yield(.askedIfQuiet); return quiet },
            release: { sink.yield(.released(.now)) })
        return (release, events)
    }

    @Test func aSpellOfAnswersIsReleasedOnceAWholeDelayAfterItsLast() async throws {
        let delay = Duration.seconds(1)  // ten times the pacing: a loaded machine does not end a spell early
        let (release, events) = Self.watched(idleDelay: delay, quiet: true)
        let running = Task { await release.run() }
        defer { running.cancel() }
        var releases = events.compactMap { if case .released(let at) = $0 { at } else { nil } }.makeAsyncIterator()

        for spell in 1...2 {
            // Answers closer together than the delay: each one postpones the release.
            var last = ContinuousClock.now
            for _ in 1...4 {
                release.requestAnswered()
                last = .now
                try await Task.sleep(for: .milliseconds(100))
            }
            let releasedAt = try #require(await releases.next())
            #expect(releasedAt - last >= delay, "spell \(spell): released \(releasedAt - last) after the last answer")
        }
        // Two spells gave exactly two releases: had the first spell given two, the second
        // `next()` would have returned its extra one, before the second spell's last answer.
    }

    @Test func nothingIsReleasedWhileTheEngineIsBusy() async throws {
        let (release, events) = Self.watched(idleDelay: .milliseconds(50), quiet: false)
        let running = Task { await release.run() }
        defer { running.cancel() }
        var seen = events.makeAsyncIterator()
        for _ in 1...2 {
            release.requestAnswered()
            // The decision after each spell: asked whether quiet, and no release after a "no"
            // (a release would come before the next spell's question on the same stream).
            let event = try #require(await seen.next())
            guard case .askedIfQuiet = event else {
                Issue.record("pages given back while the engine is busy: \(event)")
                return
            }
        }
    }
}
