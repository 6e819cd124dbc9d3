import FoundationEssentials
import Glibc

/// What the scheduler knows about one job's time: when it is next due and as what.
struct JobTimer: Sendable {
    var job: JobConfig
    /// When the job is next due (monotonic); nil while it runs, or when nothing is planned.
    var nextDue: ContinuousClock.Instant?
    var nextTrigger = RunTrigger.schedule
    /// The attempt number the next run will have (1 unless a retry is planned).
    var nextAttempt = 1
    /// The interval slot the next scheduled run stands for, without jitter: slots advance by
    /// whole periods, so runs do not drift by their own duration or by jitter.
    var slot: ContinuousClock.Instant?
    /// Submitted to the manager and not finished yet.
    var inFlight = false
    /// The jobs of `after:` that have completed successfully since this job last ran.
    var upstreamSuccesses: Set<String> = []
    var lastRunStart: Date?
    var lastSuccess: Date?
    /// The cron fire time `nextDue` stands for (nil unless planned from a cron expression).
    var cronFire: Date?
    /// The latest cron fire time that was started or skipped. The next one is planned after
    /// it, whatever the wall clock reads then: a due time goes through the monotonic clock and
    /// back, and when the wall clock has been set back a little since it was planned (before
    /// the scheduler hears of it), 12:01:00 reads as 12:00:59.9996, and the next fire after
    /// that is 12:01:00 again. One fire time runs at most once.
    var lastCronFire: Date?

    /// The run `nextDue` stood for has been handed to the manager (or skipped).
    mutating func dueTimeTaken() {
        if nextTrigger == .schedule, let cronFire { lastCronFire = cronFire }
        cronFire = nil
        nextDue = nil
    }
}
