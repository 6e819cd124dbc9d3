import FoundationEssentials
import Glibc

/// Gathers the daemon's status from the engine, the history and the running configuration:
/// what status.json says and what the HTTP API's status and latest-run answers are built from.
public struct StatusBuilder: Sendable {
    public let engine: Engine
    public let history: any HistoryStore
    public let state: DaemonState

    public init(engine: Engine, history: any HistoryStore, state: DaemonState) {
        self.engine = engine
        self.history = history
        self.state = state
    }

    public func build(now: Date = Date()) async -> DaemonStatus {
        let current = state.snapshot
        let running = Set(await engine.runningJobs())
        let next = await engine.nextRunTimes()
        let summaries = (try? await history.summaries(of: current.config.jobs.map(\.name))) ?? [:]
        let jobs = current.config.jobs.map { job in
            DaemonStatus.Job(
                name: job.name, type: job.type, displayName: job.displayName, enabled: job.enabled,
                schedule: job.schedule?.summary, running: running.contains(job.name),
                lastRun: summaries[job.name]?.latest, lastSuccess: summaries[job.name]?.lastSuccess,
                nextRun: next[job.name] ?? nil
            )
        }
        return DaemonStatus(
            pid: getpid(), startedAt: state.startedAt, updatedAt: now, configPath: state.configPath,
            configHash: current.hash, loadedAt: current.loadedAt, lastReload: current.lastReload,
            schedulerRunning: await engine.isSchedulerRunning,
            schedulerInitialized: await engine.isSchedulerInitialized, jobs: jobs
        )
    }
}
