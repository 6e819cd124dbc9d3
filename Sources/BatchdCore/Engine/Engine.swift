import FoundationEssentials
import Glibc
import Logging

/// The scheduler and the manager wired together over one history store and one clock: what the
/// daemon runs, and what tests drive with a manual clock.
public final class Engine: Sendable {
    public let events: EventBus
    let scheduler: Scheduler
    let manager: JobManager
    let clock: any EngineClock

    public init(config: BatchConfig, history: any HistoryStore, clock: any EngineClock = SystemClock(),
                logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let events = EventBus()
        let runner = JobRunner(
            clock: clock, daemonLogger: logger, maxLogEntries: config.history.maxLogEntriesPerRun,
            configDirectory: config.directory, stateDirectory: config.stateDirectory, environment: environment
        )
        let manager = JobManager(capacity: config.maxConcurrentJobs, runner: runner, history: history, events: events, logger: logger)
        self.events = events
        self.manager = manager
        self.clock = clock
        scheduler = Scheduler(config: config, manager: manager, history: history, clock: clock, events: events, logger: logger)
    }

    /// Plans every job from its history; until then triggers are refused. `run` does it too,
    /// but a caller that accepts requests before the loop starts awaits it first.
    public func prepare() async {
        await scheduler.prepare()
    }

    /// Runs until `shutdown` is called.
    public func run() async {
        let scheduler = self.scheduler
        await manager.setCompletionHandler { completions in
            await scheduler.runsFinished(completions)
        }
        await scheduler.run()
    }

    /// Stops starting runs, gives running ones `grace` to finish, cancels the rest, and returns
    /// when every run is recorded.
    public func shutdown(grace: Duration) async {
        await scheduler.stop()
        await manager.shutdown(grace: grace, clock: clock)
    }

    public func trigger(_ job: String) async -> Scheduler.TriggerOutcome {
        await scheduler.trigger(job)
    }

    /// The wall clock was set: cron due times are planned again from it.
    public func wallClockChanged() async {
        await scheduler.wallClockChanged()
    }

    public func cancel(_ job: String) async -> Bool {
        await scheduler.cancel(job)
    }

    public func apply(_ config: BatchConfig) async {
        await scheduler.apply(config)
    }

    public func runningJobs() async -> [String] {
        await manager.runningJobs
    }

    public func nextRunTimes() async -> [String: Date?] {
        await scheduler.snapshot()
    }

    public var isSchedulerRunning: Bool {
        get async { await scheduler.isRunning }
    }

    /// Every job has been planned from its history.
    public var isSchedulerInitialized: Bool {
        get async { await scheduler.isInitialized }
    }

    /// `batchd once`: one run of `job` in this process, recorded in history like any other.
    /// Task cancellation (SIGINT/SIGTERM in the CLI) ends the run as `cancelled`.
    public static func runOnce(_ job: JobConfig, config: BatchConfig, history: any HistoryStore, logger: Logger,
                               clock: any EngineClock = SystemClock(),
                               environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> RunRecord {
        let runner = JobRunner(
            clock: clock, daemonLogger: logger, maxLogEntries: config.history.maxLogEntriesPerRun,
            configDirectory: config.directory, stateDirectory: config.stateDirectory, environment: environment
        )
        let id = try await history.allocateRunID()
        let start = JobRunner.Start(clock: clock)
        try await history.runStarted(id: id, job: job.name, displayName: job.displayName, trigger: .manual, attempt: 1, at: start.wall)
        let stopper = RunStopper()
        let task = Task { await runner.execute(job, id: id, trigger: .manual, attempt: 1, start: start, stopper: stopper) }
        let outcome = await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            stopper.stop(.cancelledByUser, task: task)
        }
        try await history.append(outcome.record)
        return outcome.record
    }
}
