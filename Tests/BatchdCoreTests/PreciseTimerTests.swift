@testable import BatchdCore
import Foundation
import Testing

/// The timer thread never waits for a deadline nobody sleeps until any more: a run's timeout
/// sleep is cancelled when the run ends, and the timer must not wake an hour later for it.
@Suite("The precise timer after a cancelled sleep")
struct PreciseTimerTests {
    /// Waits for a state that the timer's own thread sets. The bound is generous: at the start
    /// of a parallel test run the two-thread pool is busy with other suites' synchronous work for
    /// seconds, and the tasks that sleep on the timer may not have run yet (two seconds failed
    /// once in twelve runs). A timer that never arms still fails, after 30 seconds.
    func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return condition()
    }

    @Test func cancellingTheNearestSleepDisarmsTheTimer() async {
        let timer = PreciseTimer()  // its own, so that no other test's sleeps are in it
        let later = ContinuousClock.now + .seconds(2_000)
        let nearest = ContinuousClock.now + .seconds(1_000)
        let staying = Task { try? await timer.sleep(until: later) }
        let cancelled = Task { try? await timer.sleep(until: nearest) }
        #expect(await eventually { timer.armedDeadline == nearest })
        cancelled.cancel()
        await cancelled.value
        // It looks again at once and waits for the sleep that is left.
        #expect(await eventually { timer.armedDeadline == later })
        staying.cancel()
        await staying.value
        #expect(await eventually { timer.armedDeadline == nil })
    }

    /// The timer thread sleeps most of the way in one sleep, the last 10 ms in steps of 1 ms
    /// (a VM's short sleeps end late less often), and spins the last 250 µs.
    @Test func theLastStretchIsSleptInShortSteps() {
        let step = PreciseTimer.approachStep, spin = PreciseTimer.spinWindow
        #expect(PreciseTimer.sleepLength(before: .seconds(1)) == .seconds(1) - PreciseTimer.approach - spin)
        #expect(PreciseTimer.sleepLength(before: PreciseTimer.approach + spin + .microseconds(1)) == .microseconds(1))
        #expect(PreciseTimer.sleepLength(before: PreciseTimer.approach + spin) == step)
        #expect(PreciseTimer.sleepLength(before: .milliseconds(5)) == step)
        #expect(PreciseTimer.sleepLength(before: step + spin - .microseconds(150)) == step - .microseconds(150))
        #expect(PreciseTimer.sleepLength(before: spin) == nil)
        #expect(PreciseTimer.sleepLength(before: .zero) == nil)
        // From a second away to the spin: one long sleep and ten steps at most.
        var remaining = Duration.seconds(1), sleeps = 0
        while let sleep = PreciseTimer.sleepLength(before: remaining) {
            remaining -= sleep
            sleeps += 1
        }
        #expect(sleeps == 11)
        #expect(remaining == spin)
    }

    /// Sleepers are resumed up to `resumeLead` early, so that the wait for a pool thread falls
    /// before the deadline; `sleep(until:)` spins the rest and never returns before its deadline,
    /// `sleep(untilAbout:)` never more than the lead before it.
    @Test func aSleepNeverEndsBeforeItsDeadline() async throws {
        let timer = PreciseTimer()
        for round in 0..<20 {
            let deadline = ContinuousClock.now + .milliseconds(2)
            if round % 2 == 0 {
                try await timer.sleep(until: deadline)
                let now = ContinuousClock.now
                #expect(now >= deadline, "round \(round): returned \(now.duration(to: deadline)) early")
            } else {
                try await timer.sleep(untilAbout: deadline)
                let now = ContinuousClock.now
                #expect(now >= deadline - PreciseTimer.resumeLead, "round \(round): returned \(now.duration(to: deadline)) early")
            }
        }
    }
}
