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
}
