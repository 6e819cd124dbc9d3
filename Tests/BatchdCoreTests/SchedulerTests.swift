import BatchdCore
import BatchdTestKit
import Foundation
import Testing

/// The scheduling rules, on a manual clock: no test here sleeps.
@Suite("Scheduler and manager on a manual clock")
struct SchedulerTests {
    let t0 = EngineHarness.t0

    @Test func anIntervalJobRunsAtStartThenEveryPeriodFromItsLastSuccess() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          tick: { type: scripted, enabled: true, every: 60s, items: 2 }
        """)
        let first = try #require(await harness.finished())
        #expect(first.trigger == .schedule && first.status == .completed && first.itemsChecked == 2)
        #expect(first.startedAt == t0)
        await harness.expectWake(at: t0.plus(60))
        harness.clock.advance(by: .seconds(59))
        harness.clock.advance(by: .seconds(1))
        let second = try #require(await harness.finished())
        #expect(second.startedAt == t0.plus(60))
        await harness.expectWake(at: t0.plus(120))
        #expect(await harness.history.records.count == 2)
        await harness.stop()
    }

    @Test func aJobThatSucceededRecentlyWaitsForTheRestOfItsPeriod() async throws {
        let previous = RunRecord(id: 7, jobType: "tick", displayName: "tick", status: .completed, trigger: .schedule, attempt: 1,
                                 startedAt: t0.plus(-20), completedAt: t0.plus(-19))
        let harness = try await EngineHarness.start("jobs:\n  tick: { type: scripted, enabled: true, every: 60s }\n", records: [previous])
        await harness.expectWake(at: t0.plus(40))
        harness.clock.advance(by: .seconds(40))
        let run = try #require(await harness.finished())
        #expect(run.id == 8 && run.startedAt == t0.plus(40))
        await harness.stop()
    }

    @Test func failuresRetryWithExponentialBackoffThenReturnToTheSchedule() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          flaky:
            type: scripted
            enabled: true
            every: 1h
            behaviour: fail
            retry: { maxAttempts: 3, initialDelay: 10s, multiplier: 2, maxDelay: 15s }
        """)
        let first = try #require(await harness.finished())
        #expect(first.status == .failed && first.attempt == 1 && first.error == "scripted failure")
        await harness.expectWake(at: t0.plus(10))
        harness.clock.advance(by: .seconds(10))
        let second = try #require(await harness.finished())
        #expect(second.trigger == .retry && second.attempt == 2)
        await harness.expectWake(at: t0.plus(25))  // 20s capped at maxDelay 15s
        harness.clock.advance(by: .seconds(15))
        let third = try #require(await harness.finished())
        #expect(third.trigger == .retry && third.attempt == 3)
        // Out of attempts: back to the hourly schedule, counted from the first slot.
        await harness.expectWake(at: t0.plus(3600))
        harness.clock.advance(to: t0.plus(3600))
        let scheduled = try #require(await harness.finished())
        #expect(scheduled.trigger == .schedule && scheduled.attempt == 1)
        await harness.stop()
    }

    @Test func aRetryThatSucceedsEndsTheSequence() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          flaky: { type: scripted, enabled: true, every: 5m, failAttempts: 1, retry: { initialDelay: 30s } }
        """)
        #expect(await harness.finished()?.status == .failed)
        harness.clock.advance(by: .seconds(30))
        let retry = try #require(await harness.finished())
        #expect(retry.status == .completed && retry.attempt == 2 && retry.trigger == .retry)
        await harness.expectWake(at: t0.plus(300))
        await harness.stop()
    }

    @Test func aTriggerWhileRunningIsRefusedUnlessTheJobQueues() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          forbid: { type: scripted, behaviour: hang }
          queue: { type: scripted, behaviour: hang, overlap: queue, timeout: 10s, retry: { maxAttempts: 1 } }
        """)
        #expect(await harness.engine.trigger("forbid") == .started)
        #expect(await harness.engine.trigger("forbid") == .alreadyRunning)
        #expect(await harness.engine.trigger("nope") == .unknownJob)
        #expect(await harness.engine.trigger("queue") == .started)
        #expect(await harness.engine.trigger("queue") == .queued)
        #expect(await harness.engine.trigger("queue") == .queued)  // folds into the one queued run
        #expect(await harness.started(job: "queue")?.trigger == .manual)
        // The first run ends (by its timeout); the queued one follows at once.
        harness.clock.advance(by: .seconds(10))
        let first = try #require(await harness.finished())
        #expect(first.jobType == "queue" && first.status == .timeout)
        #expect(await harness.started(job: "queue")?.trigger == .manual)
        // Cancelling stops the run and drops anything queued after it.
        #expect(await harness.engine.cancel("queue"))
        let cancelled = try #require(await harness.finished())
        #expect(cancelled.jobType == "queue" && cancelled.status == .cancelled && cancelled.error == "cancelled by request")
        #expect(await harness.engine.cancel("forbid"))
        #expect(await harness.finished()?.jobType == "forbid")
        #expect(await harness.engine.cancel("forbid") == false)
        await harness.stop()
        #expect(await harness.history.records.map(\.status) == [.timeout, .cancelled, .cancelled])
    }

    @Test func theConcurrencyCapStartsWaitingJobsByPriorityThenDueTime() async throws {
        let harness = try await EngineHarness.start("""
        maxConcurrentJobs: 1
        jobs:
          blocker: { type: scripted, behaviour: hang }
          low: { type: scripted, behaviour: succeed, priority: 1 }
          high: { type: scripted, behaviour: succeed, priority: 5 }
          low2: { type: scripted, behaviour: succeed, priority: 1 }
        """)
        #expect(await harness.engine.trigger("blocker") == .started)
        #expect(await harness.engine.trigger("low") == .waiting)
        #expect(await harness.engine.trigger("low2") == .waiting)
        #expect(await harness.engine.trigger("high") == .waiting)
        #expect(await harness.engine.trigger("high") == .alreadyRunning)  // already waiting
        #expect(await harness.engine.runningJobs() == ["blocker"])
        _ = await harness.engine.cancel("blocker")
        let order = [await harness.finished(), await harness.finished(), await harness.finished(), await harness.finished()].map { $0?.jobType }
        #expect(order == ["blocker", "high", "low", "low2"])
        await harness.stop()
    }

    @Test func afterRunsAJobOnceEachUpstreamJobHasSucceeded() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          fetch: { type: scripted, enabled: true, every: 1h }
          build: { type: scripted, enabled: true }
          report: { type: scripted, enabled: true, after: [fetch, build] }
          publish: { type: scripted, enabled: true, after: report }
        """)
        #expect(await harness.finished()?.jobType == "fetch")
        // report waits for build as well.
        await harness.expectWake(at: t0.plus(3600))
        #expect(await harness.engine.trigger("build") == .started)
        #expect(await harness.finished()?.jobType == "build")
        let report = try #require(await harness.finished())
        #expect(report.jobType == "report" && report.trigger == .dependency)
        let publish = try #require(await harness.finished())
        #expect(publish.jobType == "publish" && publish.trigger == .dependency)
        await harness.stop()
    }

    @Test func aMissedRunWhileDownIsCaughtUpExactlyOnce() async throws {
        // Hourly cron; batchd was down from 07:00 to 12:00, missing five fire times.
        let lastRun = RunRecord(id: 1, jobType: "hourly", displayName: "hourly", status: .completed, trigger: .schedule, attempt: 1,
                                startedAt: t0.plus(-5 * 3600), completedAt: t0.plus(-5 * 3600 + 1))
        let harness = try await EngineHarness.start("""
        jobs:
          hourly: { type: scripted, enabled: true, cron: "0 * * * *", timezone: UTC }
          noCatchUp: { type: scripted, enabled: true, cron: "0 * * * *", timezone: UTC, catchUp: false }
        """, records: [lastRun, RunRecord(id: 2, jobType: "noCatchUp", displayName: "x", status: .completed, trigger: .schedule,
                                          attempt: 1, startedAt: t0.plus(-5 * 3600), completedAt: t0.plus(-5 * 3600))])
        let caughtUp = try #require(await harness.finished())
        #expect(caughtUp.jobType == "hourly" && caughtUp.trigger == .catchUp && caughtUp.startedAt == t0)
        await harness.expectWake(at: t0.plus(3600))
        harness.clock.advance(by: .seconds(3600))
        let next = [await harness.finished(), await harness.finished()]
        #expect(Set(next.compactMap { $0?.jobType }) == ["hourly", "noCatchUp"])
        #expect(next.allSatisfy { $0?.trigger == .schedule })
        await harness.stop()
        #expect(await harness.history.records.count == 5)
    }

    @Test func jitterIsStablePerJobAndWithinItsBound() async throws {
        let yaml = """
        jobs:
          a: { type: scripted, enabled: true, every: 1h, jitter: 5m }
          b: { type: scripted, enabled: true, every: 1h, jitter: 5m }
        """
        let config = try ConfigLoader(registry: EngineHarness.registry).load(bytes: Array(yaml.utf8), path: "x").get()
        let again = try ConfigLoader(registry: EngineHarness.registry).load(bytes: Array(yaml.utf8), path: "y").get()
        let a = try #require(config.job(named: "a")), b = try #require(config.job(named: "b"))
        #expect(a.jitterOffset == again.job(named: "a")?.jitterOffset)
        #expect(a.jitterOffset != b.jitterOffset)
        #expect(a.jitterOffset >= .zero && a.jitterOffset < .seconds(300))
        let harness = try await EngineHarness.start(yaml)
        // Never-run interval jobs are due at start plus their jitter.
        let offsets = [a.jitterOffset, b.jitterOffset].sorted()
        await harness.expectWake(at: t0.plus(offsets[0].seconds))
        harness.clock.advance(by: offsets[1])
        #expect(await harness.finished() != nil)
        #expect(await harness.finished() != nil)
        await harness.stop()
    }

    @Test func cronFollowsItsTimeZoneAcrossTheSpringForward() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          nightly: { type: scripted, enabled: true, cron: "30 2 * * *", timezone: Europe/Berlin }
        """, wall: Timestamp.parse("2026-03-28T12:00:00.000Z")!)
        // 02:30 does not exist on March 29 in Berlin: it runs when the clocks jump (01:00 UTC).
        let jump = Timestamp.parse("2026-03-29T01:00:00.000Z")!
        await harness.expectWake(at: jump)
        harness.clock.advance(to: jump)
        let run = try #require(await harness.finished())
        #expect(run.startedAt == jump)
        await harness.expectWake(at: Timestamp.parse("2026-03-30T00:30:00.000Z")!)
        await harness.stop()
    }

    /// A cron fire time is kept as a monotonic instant and read back through the wall clock.
    /// (NTP's slewing moves both clocks alike; a step does not.) When the wall clock has been
    /// set back a little (here 0.4 ms) and the scheduler has not heard of it yet (the watcher's
    /// notice is on its way, or the kernel has no such timer), or when instants were kept to
    /// the millisecond (half a millisecond either way), a run that ended before the wall clock
    /// read 12:01:00 was planned for 12:01:00 again, and ran twice.
    @Test func aCronFireTimeRunsOnceWhenTheWallClockHasFallenBehind() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          minutely: { type: scripted, enabled: true, cron: "* * * * *", timezone: UTC }
        """)
        await harness.expectWake(at: t0.plus(60))
        harness.clock.setWall(to: harness.clock.wallNow().addingTimeInterval(-0.0004))  // not told to the engine
        // Shown rounded to the millisecond: read back through this clock it is 12:00:59.9996.
        #expect(await harness.nextRun(of: "minutely") == "2026-11-29T12:01:00.000Z")
        harness.clock.advance(by: .seconds(60))
        let run = try #require(await harness.finished())
        #expect(run.trigger == .schedule && Timestamp.iso8601(run.startedAt) == "2026-11-29T12:00:59.999Z")
        // The run took no time on this clock: planned from its end, the next fire is 12:02.
        await harness.expectWake(at: t0.plus(120))
        #expect(try await harness.history.newest(limit: 10, job: nil, status: nil).count == 1)
        await harness.stop()
    }

    /// The same unheard step, and a fire time that finds the job still running: a reload
    /// removed the job and added it back while it ran, so it was planned again. That occurrence
    /// is skipped and the one after planned; planned from the skipped instant, read back as
    /// 12:01:59.9996, it was 12:02:00 again. (With instants kept to the millisecond, as they
    /// were, it was due at once, and the loop fired and skipped it without end.)
    @Test func aSkippedCronOccurrenceIsSkippedOnceWhenTheWallClockHasFallenBehind() async throws {
        let yaml = "jobs:\n  minutely: { type: scripted, enabled: true, cron: '* * * * *', timezone: UTC, behaviour: hang, timeout: 5m }\n"
        let harness = try await EngineHarness.start(yaml)
        await harness.expectWake(at: t0.plus(60))
        harness.clock.advance(by: .seconds(60))
        _ = await harness.started()
        let loader = ConfigLoader(registry: EngineHarness.registry)
        await harness.engine.apply(try loader.load(bytes: Array("jobs: {}\n".utf8), path: "batch.yaml").get())
        await harness.engine.apply(try loader.load(bytes: Array(yaml.utf8), path: "batch.yaml").get())
        await harness.expectWake(at: t0.plus(120))
        harness.clock.setWall(to: harness.clock.wallNow().addingTimeInterval(-0.0004))
        harness.clock.advance(by: .seconds(60))  // 12:02, the run of 12:01 still going
        await harness.expectWake(at: t0.plus(180))
        #expect(await harness.nextRun(of: "minutely") == "2026-11-29T12:03:00.000Z")
        #expect(await harness.engine.runningJobs() == ["minutely"])
        await harness.stop()
    }

    /// `date -s` while batchd runs (or an NTP step at boot): cron times follow the new wall
    /// clock. Forward over nothing: the planned fire comes sooner; back: it comes later, and
    /// what already ran does not run again; forward over a fire time: it runs once, at once.
    @Test func cronTimesFollowTheWallClockWhenItIsSet() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          hourly: { type: scripted, enabled: true, cron: "0 * * * *", timezone: UTC }
          tick: { type: scripted, enabled: true, every: 2h }
        """)
        _ = await harness.finished()  // tick, due at start; next at 14:00 on the monotonic clock
        await harness.expectWake(at: t0.plus(3600))
        harness.clock.setWall(to: t0.plus(1800))  // 12:30 on the wall, no time passed
        await harness.engine.wallClockChanged()
        await harness.expectWake(at: t0.plus(3600))
        harness.clock.advance(by: .seconds(1800))
        let first = try #require(await harness.finished())
        #expect(first.jobType == "hourly" && first.startedAt == t0.plus(3600))

        harness.clock.setWall(to: t0.plus(1800))  // back to 12:30: 13:00 has run already
        await harness.engine.wallClockChanged()
        #expect(await harness.nextRun(of: "hourly") == "2026-11-29T14:00:00.000Z")
        // The interval job keeps its monotonic due time: 1 h 30 min from now, on any wall clock.
        #expect(await harness.nextRun(of: "tick") == "2026-11-29T14:00:00.000Z")

        harness.clock.setWall(to: t0.plus(4 * 3600 + 600))  // 16:10: 14:00, 15:00 and 16:00 jumped over
        await harness.engine.wallClockChanged()
        let caughtUp = try #require(await harness.finished())
        #expect(caughtUp.jobType == "hourly" && caughtUp.trigger == .schedule && caughtUp.startedAt == t0.plus(4 * 3600 + 600))
        #expect(await harness.nextRun(of: "hourly") == "2026-11-29T17:00:00.000Z")
        #expect(try await harness.history.newest(limit: 10, job: "hourly", status: nil).count == 2)
        await harness.stop()
    }

    @Test func aTimeoutEndsTheRunAndItIsRetried() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          stuck: { type: scripted, enabled: true, every: 1h, behaviour: hang, timeout: 30s, retry: { maxAttempts: 2, initialDelay: 1m } }
        """)
        #expect(await harness.started()?.job == "stuck")
        harness.clock.advance(by: .seconds(30))
        let timedOut = try #require(await harness.finished())
        #expect(timedOut.status == .timeout && timedOut.error == "timed out after 30s")
        #expect(timedOut.durationMs == 30_000)
        await harness.expectWake(at: t0.plus(90))
        await harness.stop()
    }

    @Test func aHandlerThatThrowsIsAFailedRunAndTheEngineGoesOn() async throws {
        let harness = try await EngineHarness.start("""
        jobs:
          broken: { type: scripted, enabled: true, every: 10s, behaviour: throw, retry: { maxAttempts: 1 } }
        """)
        let failed = try #require(await harness.finished())
        #expect(failed.status == .failed && failed.error == "a plain Swift error from the scripted job")
        #expect(failed.logs.map(\.message) == ["scripted run", "run failed: a plain Swift error from the scripted job"])
        harness.clock.advance(by: .seconds(10))
        #expect(await harness.finished()?.status == .failed)
        #expect(await harness.engine.isSchedulerRunning)
        await harness.stop()
    }

    @Test func shutdownCancelsWhatIsStillRunningAfterTheGraceAndRecordsIt() async throws {
        let harness = try await EngineHarness.start("jobs:\n  stuck: { type: scripted, behaviour: hang }\n")
        #expect(await harness.engine.trigger("stuck") == .started)
        _ = await harness.started()
        await harness.stop()
        let records = await harness.history.records
        #expect(records.count == 1)
        #expect(records.first?.status == .cancelled)
        #expect(records.first?.error == "cancelled: batchd was shutting down and the grace period ended")
        #expect(await harness.engine.trigger("stuck") == .shuttingDown)
    }

    @Test func theRetryDelayGrowsGeometricallyUpToItsCap() {
        let policy = RetryPolicy(maxAttempts: 6, initialDelay: .seconds(60), multiplier: 2, maxDelay: .seconds(600))
        #expect((1...6).map { policy.delay(afterAttempt: $0) } == [60, 120, 240, 480, 600, 600].map { Duration.seconds($0) })
    }
}
