import CBatchdSystem
import FoundationEssentials
import Glibc
import Synchronization

/// The children batchd started and has not reaped yet, process-wide because `waitpid` and
/// process ids are: the orphan reaper must never reap one of these (their watcher does).
enum ChildRegistry {
    private struct State {
        var children: Set<pid_t> = []
        /// Spawns under way: a child they start is batchd's before it is in `children`.
        var spawning = 0
        /// Zombies the orphan reaper left alone because a spawn was under way.
        var deferred: Set<pid_t> = []
    }

    /// Taken three times per command run, by as many threads as run commands: see `PlainMutex`.
    private static let state = PlainMutex(State())

    /// Runs `spawn` and registers the child it started. The lock is not held across the spawn
    /// (sixty-four runs starting together would queue on it for the length of each `vfork`);
    /// instead the orphan reaper leaves unknown zombies alone while a spawn is under way, and
    /// the last spawn to finish reaps the zombies it deferred.
    static func spawning(_ spawn: () -> (Int32, pid_t?)) -> Int32 {
        state.withLock { $0.spawning += 1 }
        let (code, pid) = spawn()
        let deferred = state.withLock { state -> Set<pid_t> in
            if let pid { state.children.insert(pid) }
            state.spawning -= 1
            guard state.spawning == 0 else { return [] }
            defer { state.deferred = [] }
            return state.deferred
        }
        if !deferred.isEmpty { OrphanReaper.reap(Array(deferred)) }
        return code
    }

    static func finished(_ pid: pid_t) {
        _ = state.withLock { $0.children.remove(pid) }
    }

    static func contains(_ pid: pid_t) -> Bool {
        state.withLock { $0.children.contains(pid) }
    }

    /// Whether the orphan reaper may reap this zombie: not one of batchd's children, and no
    /// spawn under way whose child it might be (then the last spawn to end reaps it).
    static func mayReap(_ pid: pid_t) -> Bool {
        state.withLock { state in
            if state.children.contains(pid) { return false }
            if state.spawning > 0 {
                state.deferred.insert(pid)
                return false
            }
            return true
        }
    }
}

/// Processes orphaned by jobs (a shell's background children) are re-parented to the daemon,
/// which makes itself a child subreaper (and is PID 1 in a container anyway); they must be
/// reaped, or they stay zombies forever and keep their process group looking alive. The daemon
/// calls `reapOrphans` on each SIGCHLD: it reaps every zombie child that is not one of batchd's
/// own (their watcher reaps those).
public enum OrphanReaper {
    /// Makes this process the reaper of its descendants' orphans.
    public static func becomeSubreaper() {
        _ = CBatchd_set_child_subreaper()
    }

    /// One pass: every zombie child that is not batchd's own is reaped. `thorough` reads the
    /// children of every thread; otherwise only the main thread's, where the kernel hands
    /// orphans (the first live thread of their new parent: the group leader), one file instead
    /// of one per thread (a thread per running command).
    static func reapOrphans(thorough: Bool = true) {
        reap(thorough ? ProcessTable.children() : ProcessTable.childrenOfMainThread() ?? ProcessTable.children())
    }

    /// Reaps each of `candidates` that is a zombie and not one of batchd's own children.
    static func reap(_ candidates: [pid_t]) {
        for pid in candidates where !ChildRegistry.contains(pid) && ProcessTable.isZombie(pid) && ChildRegistry.mayReap(pid) {
            var status: Int32 = 0
            waitpid(pid, &status, WNOHANG)
        }
    }
}

/// A look at /proc: every process with its state, parent and process group.
enum ProcessTable {
    struct Entry {
        var pid: pid_t
        var state: Character
        var parent: pid_t
        var group: pid_t
    }

    static func all() -> [Entry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { name -> Entry? in
            guard let pid = pid_t(name),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After the command name (which may hold spaces): state, ppid, pgrp, ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 3, let state = fields[0].first, let parent = pid_t(fields[1]), let group = pid_t(fields[2]) else { return nil }
            return Entry(pid: pid, state: state, parent: parent, group: group)
        }
    }

    /// This process's children (its own and the orphans handed to it), from
    /// `/proc/self/task/*/children`: a SIGCHLD per finished run must not mean a walk through
    /// every process of the machine. Falls back to that walk where the file does not exist.
    static func children() -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        var found: [pid_t] = []
        var listed = false
        for task in tasks {
            guard let pids = pids(inChildrenFileOf: task) else { continue }
            listed = true
            found += pids
        }
        if listed { return found }
        let me = getpid()
        return all().filter { $0.parent == me }.map(\.pid)
    }

    /// The main thread's children, or nil where the file does not exist.
    static func childrenOfMainThread() -> [pid_t]? {
        pids(inChildrenFileOf: "\(getpid())")
    }

    /// `/proc/self/task/TASK/children`: the children of that thread.
    private static func pids(inChildrenFileOf task: String) -> [pid_t]? {
        guard let text = try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8) else { return nil }
        return text.split(separator: " ").compactMap { pid_t($0.trimmingWhitespace()) }
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].dropFirst().first == "Z"
    }

    /// Whether any process of the group is still alive (zombies waiting to be reaped are not).
    static func groupHasLiveMembers(_ group: pid_t) -> Bool {
        guard kill(-group, 0) == 0 else { return false }
        return all().contains { $0.group == group && $0.state != "Z" && $0.state != "X" }
    }
}
