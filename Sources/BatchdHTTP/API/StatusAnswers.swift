import BatchdCore
import FoundationEssentials
import Glibc

/// The answers that depend on no request parameter: status, latest runs and the configuration,
/// rendered once per change of the daemon's state (see `StatusCache`).
struct StatusAnswers: Sendable {
    var status: APIResponse
    var latest: APIResponse
    var latestByJob: APIResponse
    var config: APIResponse

    init(status: DaemonStatus, newest: RunRecord?, config: BatchConfig) {
        let times = { (pick: (DaemonStatus.Job) -> Date?) -> JSONValue in
            .object(status.jobs.map { ($0.name, pick($0).map { .string(Timestamp.iso8601($0)) } ?? .null) })
        }
        self.status = .success([("status", .object([
            ("registeredJobs", .array(status.jobs.map { .string($0.name) })),
            ("runningJobs", .array(status.jobs.filter(\.running).map { .string($0.name) })),
            ("scheduler", .object([
                ("isRunning", .bool(status.schedulerRunning)),
                ("isInitialized", .bool(status.schedulerInitialized)),
                ("activeJobTimers", .int(Int64(status.activeJobTimers))),
                // As in the seed: when each job last completed successfully.
                ("lastRunTimes", times(\.lastSuccess)),
                ("nextRunTimes", times(\.nextRun)),
            ])),
            ("config", status.configJSON),
        ]))])
        latest = .success([("run", newest?.json ?? .null)])
        latestByJob = .success([("runs", .object(status.jobs.map { ($0.name, $0.lastRun?.json ?? .null) }))])
        self.config = .success([("config", .object(config.jobs.map { ($0.name, $0.effectiveSettings) }))])
    }
}
