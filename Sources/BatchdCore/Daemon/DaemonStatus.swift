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

    /// The file's bytes, written field by field into `buffer`'s memory (see
    /// `JSONObjectWriter(reusing:)`): a tree of `JSONValue`s first was an array, and four date
    /// strings, per job, and with 5,000 jobs rewriting the file took a core for tens of
    /// milliseconds at the start of a burst of their runs.
    public func bytes(reusing buffer: [UInt8] = []) -> [UInt8] {
        var object = JSONObjectWriter(reusing: buffer)
        object.field("pid", Int64(pid))
        object.field("startedAt", startedAt)
        object.field("updatedAt", updatedAt)
        object.object("scheduler") { scheduler in
            scheduler.field("isRunning", schedulerRunning)
            scheduler.field("isInitialized", schedulerInitialized)
            scheduler.field("activeJobTimers", Int64(activeJobTimers))
        }
        object.field("config", configJSON)
        object.objects("jobs", jobs) { object, job in
            object.field("name", job.name)
            object.field("type", job.type)
            object.field("displayName", job.displayName)
            object.field("enabled", job.enabled)
            object.field("schedule", job.schedule)
            object.field("running", job.running)
            object.object("lastRun", job.lastRun.map { run in
                { (object: inout JSONObjectWriter) in
                    object.field("id", run.id)
                    object.field("status", run.status.rawValue)
                    object.field("trigger", run.trigger.rawValue)
                    object.field("startedAt", run.startedAt)
                    object.field("completedAt", run.completedAt)
                    object.field("error", run.error)
                }
            })
            object.field("lastSuccess", job.lastSuccess)
            object.field("nextRun", job.nextRun)
        }
        return object.finish(terminator: 0x0A)
    }
}
