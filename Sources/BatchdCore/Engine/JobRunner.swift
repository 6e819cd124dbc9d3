import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// Why a run was stopped before its handler finished; decides its status.
public enum StopReason: Sendable {
    case cancelledByUser
    case shutdown
}

/// A run in progress that others may stop; the reason is set before the task is cancelled.
final class RunStopper: Sendable {
    private let reason = Mutex<StopReason?>(nil)

    func stop<Success: Sendable>(_ why: StopReason, task: Task<Success, Never>) {
        reason.withLock { if $0 == nil { $0 = why } }
        task.cancel()
    }

    var stopReason: StopReason? { reason.withLock { $0 } }
}

/// One execution of one job: the handler raced against its timeout, every log entry captured,
/// the outcome turned into a `RunRecord`. Knows nothing of scheduling or concurrency limits.
struct JobRunner: Sendable {
    let clock: any EngineClock
    let daemonLogger: Logger
    let maxLogEntries: Int
    let configDirectory: String
    let stateDirectory: String
    let environment: [String: String]

    struct Outcome: Sendable {
        var record: RunRecord
        var retryNotBefore: Date?
    }

    private enum Race: Sendable {
        case finished(Result<JobResult, JobFailure>)
        case timedOut
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
        var logger = Logger(label: "batchd.run") { _ in
            MultiplexLogHandler([RunLogHandler(log: runLog), DaemonLogForwarder(logger: daemonLogger)])
        }
        logger[metadataKey: "job"] = "\(job.name)"
        logger[metadataKey: "run"] = "\(id)"
        logger[metadataKey: "attempt"] = "\(attempt)"
        logger.logLevel = .debug
        let context = JobContext(
            jobName: job.name, runID: id, attempt: attempt, trigger: trigger, logger: logger,
            configDirectory: configDirectory,
            state: HandlerStateFile(path: "\(stateDirectory)/state/\(job.name).json"),
            environment: environment
        )
        let handler = job.handler
        let deadline = start.instant + job.timeout
        let clock = self.clock
        let race: Race = await withTaskGroup(of: Race?.self) { group in
            group.addTask {
                do {
                    return .finished(.success(try await handler.run(context)))
                } catch let failure as JobFailure {
                    return .finished(.failure(failure))
                } catch is CancellationError {
                    return .finished(.failure(JobFailure("cancelled")))
                } catch {
                    return .finished(.failure(JobFailure(String(describing: error))))
                }
            }
            group.addTask {
                do {
                    try await clock.sleep(until: deadline)
                    return .timedOut
                } catch {
                    return nil  // cancelled: the handler finished first, or the run was stopped
                }
            }
            var outcome: Race?
            while outcome == nil, let next = await group.next() {
                outcome = next
            }
            group.cancelAll()
            // The handler's task ends promptly once cancelled (that is its contract), and the
            // group waits for it: after a timeout nothing the job started is left running.
            return outcome ?? .finished(.failure(JobFailure("cancelled")))
        }

        var status = RunStatus.completed
        var result = JobResult()
        var error: String?
        var retryNotBefore: Date?
        switch (race, stopper.stopReason) {
        case (_, .some(.cancelledByUser)):
            status = .cancelled
            error = "cancelled by request"
        case (_, .some(.shutdown)):
            status = .cancelled
            error = "cancelled: batchd was shutting down and the grace period ended"
        case (.timedOut, nil):
            status = .timeout
            error = "timed out after \(DurationText.format(job.timeout))"
        case (.finished(.success(let reported)), nil):
            result = reported
        case (.finished(.failure(let failure)), nil):
            status = .failed
            error = failure.message
            result = failure.partial ?? JobResult()
            retryNotBefore = failure.retryNotBefore
        }
        if let error {
            logger.error("run \(status.rawValue): \(error)")
        } else {
            logger.info("run completed", metadata: ["itemsChecked": "\(result.itemsChecked)", "itemsUpdated": "\(result.itemsUpdated)"])
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

/// Sends a run's log entries on to the daemon's logger, keeping the run's metadata.
struct DaemonLogForwarder: LogHandler {
    var logger: Logger
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        logger.log(level: event.level, event.message, metadata: merged)
    }
}
