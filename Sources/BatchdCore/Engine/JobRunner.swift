import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// Why a run was stopped before its handler finished; decides its status.
public enum StopReason: Sendable {
    case cancelledByUser
    case shutdown
    case timedOut
}

/// A run in progress that others may stop; the reason is set before the task is cancelled.
final class RunStopper: Sendable {
    private let reason = Mutex<StopReason?>(nil)

    func stop<Success: Sendable>(_ why: StopReason, task: Task<Success, Never>) {
        reason.withLock { if $0 == nil { $0 = why } }
        task.cancel()
    }

    /// The run's timeout has passed: its task (the one running the handler) is cancelled.
    func timeOut(_ run: RunningTask) {
        reason.withLock { if $0 == nil { $0 = .timedOut } }
        run.task.cancel()
    }

    var stopReason: StopReason? { reason.withLock { $0 } }
}

/// The task that runs a handler, for its timeout to cancel. `UnsafeCurrentTask` is only valid
/// while that task runs: `RunDeadlines` calls expiries under the lock that `end` takes, and the
/// run calls `end` before it returns, so no expiry ever touches a task that has finished.
struct RunningTask: @unchecked Sendable {
    let task: UnsafeCurrentTask
}

/// One execution of one job: the handler run against its timeout, every log entry captured,
/// the outcome turned into a `RunRecord`. Knows nothing of scheduling or concurrency limits.
struct JobRunner: Sendable {
    let clock: any EngineClock
    let daemonLogger: Logger
    let maxLogEntries: Int
    let configDirectory: String
    let stateDirectory: String
    let environment: [String: String]
    /// Every run's timeout, on one sleeper.
    let deadlines: RunDeadlines

    init(clock: any EngineClock, daemonLogger: Logger, maxLogEntries: Int, configDirectory: String,
         stateDirectory: String, environment: [String: String]) {
        self.clock = clock
        self.daemonLogger = daemonLogger
        self.maxLogEntries = maxLogEntries
        self.configDirectory = configDirectory
        self.stateDirectory = stateDirectory
        self.environment = environment
        deadlines = RunDeadlines(clock: clock)
    }

    struct Outcome: Sendable {
        var record: RunRecord
        var retryNotBefore: Date?
    }

    /// The moment a run starts, fixed before anyone is told it started, so that its timeout
    /// counts from the same instant the `runStarted` event reports.
    struct Start: Sendable {
        var wall: Date
        var instant: ContinuousClock.Instant

        init(clock: any EngineClock) {
            wall = clock.wallNow()
            instant = clock.now()
        }
    }

    func execute(_ job: JobConfig, id: Int64, trigger: RunTrigger, attempt: Int, start: Start, stopper: RunStopper) async -> Outcome {
        let startedAt = start.wall
        let runLog = RunLog(capacity: maxLogEntries)
        let identity: Logger.Metadata = ["job": "\(job.name)", "run": "\(id)", "attempt": "\(attempt)"]
        let logger = Logger(label: "batchd.run") { _ in
            RunLogHandler(log: runLog, forwardingTo: daemonLogger, metadata: identity)
        }
        let context = JobContext(
            jobName: job.name, runID: id, attempt: attempt, trigger: trigger, logger: logger,
            configDirectory: configDirectory,
            state: HandlerStateFile(path: "\(stateDirectory)/state/\(job.name).json"),
            environment: environment
        )
        // The handler runs in this task; its timeout cancels this task (`RunDeadlines`), and the
        // handler ends promptly once cancelled (that is its contract): after a timeout nothing
        // the job started is left running.
        let deadline = start.instant + job.timeout
        let watch = withUnsafeCurrentTask { current in
            let run = RunningTask(task: current!)
            return deadlines.watch(until: deadline) { stopper.timeOut(run) }
        }
        let finished: Result<JobResult, JobFailure>
        do {
            finished = .success(try await job.handler.run(context))
        } catch let failure as JobFailure {
            finished = .failure(failure)
        } catch is CancellationError {
            finished = .failure(JobFailure("cancelled"))
        } catch {
            finished = .failure(JobFailure(String(describing: error)))
        }
        deadlines.end(watch)

        var status = RunStatus.completed
        var result = JobResult()
        var error: String?
        var retryNotBefore: Date?
        switch (finished, stopper.stopReason) {
        case (_, .some(.cancelledByUser)):
            status = .cancelled
            error = "cancelled by request"
        case (_, .some(.shutdown)):
            status = .cancelled
            error = "cancelled: batchd was shutting down and the grace period ended"
        case (_, .some(.timedOut)):
            status = .timeout
            error = "timed out after \(DurationText.format(job.timeout))"
        case (.success(let reported), nil):
            result = reported
        case (.failure(let failure), nil):
            status = .failed
            error = failure.message
            result = failure.partial ?? JobResult()
            retryNotBefore = failure.retryNotBefore
        }
        if let error {
            logger.error("run \(status.rawValue): \(error)")
        } else {
            // Into the run's own log only: the daemon's log says it in the "run recorded" line
            // that follows (status, duration and items), and a line per run is enough there.
            runLog.append(LogEntry(timestamp: Date(), level: .info, message: "run completed",
                                   metadata: [("itemsChecked", .string("\(result.itemsChecked)")), ("itemsUpdated", .string("\(result.itemsUpdated)"))]))
        }
        let record = RunRecord(
            id: id, jobType: job.name, displayName: job.displayName, status: status, trigger: trigger,
            attempt: attempt, startedAt: startedAt, completedAt: clock.wallNow(),
            itemsChecked: result.itemsChecked, itemsUpdated: result.itemsUpdated,
            error: error, result: result.result, logs: runLog.entries
        )
        return Outcome(record: record, retryNotBefore: retryNotBefore)
    }
}
