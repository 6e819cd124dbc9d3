import FoundationEssentials
import Glibc

/// What `<stateDir>/status.json` says: the daemon's current status, for `batchd status` and
/// anyone else who reads the file. Rewritten atomically (temporary file, rename).
public struct DaemonStatus: Sendable {
    public struct Job: Sendable {
        public var name: String
        public var type: String
        public var displayName: String
        public var enabled: Bool
        public var schedule: String?
        public var running: Bool
        public var lastRun: RunRecord?
        public var lastSuccess: Date?
        public var nextRun: Date?
    }

    public struct Reload: Sendable {
        public var at: Date
        public var ok: Bool
        public var errors: [String]
    }

    public var pid: Int32
    public var startedAt: Date
    public var updatedAt: Date
    public var configPath: String
    public var configHash: String
    public var loadedAt: Date
    public var lastReload: Reload?
    public var schedulerRunning: Bool
    /// Every job has been planned from its history (the seed's `isInitialized`).
    public var schedulerInitialized: Bool
    public var jobs: [Job]

    /// Jobs the scheduler has a due time for (the seed's `activeJobTimers`).
    public var activeJobTimers: Int { jobs.filter { $0.nextRun != nil }.count }

    /// The running configuration: path, hash, when loaded, and how the last reload went.
    public var configJSON: JSONValue {
        .object([
            ("path", .string(configPath)),
            ("hash", .string(configHash)),
            ("loadedAt", .string(Timestamp.iso8601(loadedAt))),
            ("lastReload", lastReload.map { reload in
                .object([("at", .string(Timestamp.iso8601(reload.at))), ("ok", .bool(reload.ok)),
                         ("errors", .array(reload.errors.map(JSONValue.string)))])
            } ?? .null),
        ])
    }

    public var json: JSONValue {
        .object([
            ("pid", .int(Int64(pid))),
            ("startedAt", .string(Timestamp.iso8601(startedAt))),
            ("updatedAt", .string(Timestamp.iso8601(updatedAt))),
            ("scheduler", .object([("isRunning", .bool(schedulerRunning)), ("isInitialized", .bool(schedulerInitialized)),
                                   ("activeJobTimers", .int(Int64(activeJobTimers)))])),
            ("config", configJSON),
            ("jobs", .array(jobs.map { job in
                .object([
                    ("name", .string(job.name)),
                    ("type", .string(job.type)),
                    ("displayName", .string(job.displayName)),
                    ("enabled", .bool(job.enabled)),
                    ("schedule", job.schedule.map(JSONValue.string) ?? .null),
                    ("running", .bool(job.running)),
                    ("lastRun", job.lastRun.map { run in
                        .object([("id", .int(run.id)), ("status", .string(run.status.rawValue)),
                                 ("trigger", .string(run.trigger.rawValue)),
                                 ("startedAt", .string(Timestamp.iso8601(run.startedAt))),
                                 ("completedAt", .string(Timestamp.iso8601(run.completedAt))),
                                 ("error", run.error.map(JSONValue.string) ?? .null)])
                    } ?? .null),
                    ("lastSuccess", job.lastSuccess.map { .string(Timestamp.iso8601($0)) } ?? .null),
                    ("nextRun", job.nextRun.map { .string(Timestamp.iso8601($0)) } ?? .null),
                ])
            })),
        ])
    }
}
