import CBatchdSystem
import FoundationEssentials
import Glibc
import Synchronization

/// The children batchd started and has not reaped yet, process-wide because `waitpid` and
/// process ids are: the orphan reaper must never reap one of these (their watcher does).
enum ChildRegistry {
    private static let children = Mutex<Set<pid_t>>([])

    /// Runs `spawn` with the registry locked, so that a child that exits at once is known as
    /// batchd's before the orphan reaper can look at it.
    static func spawning(_ spawn: () -> (Int32, pid_t?)) -> Int32 {
        children.withLock { set in
            let (code, pid) = spawn()
            if let pid { set.insert(pid) }
            return code
        }
    }

    static func finished(_ pid: pid_t) {
        _ = children.withLock { $0.remove(pid) }
    }

    static func contains(_ pid: pid_t) -> Bool {
        children.withLock { $0.contains(pid) }
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

    static func reapOrphans() {
        for pid in ProcessTable.children() where !ChildRegistry.contains(pid) && ProcessTable.isZombie(pid) {
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
            guard let text = try? String(contentsOfFile: "/proc/self/task/\(task)/children", encoding: .utf8) else { continue }
            listed = true
            found += text.split(separator: " ").compactMap { pid_t($0.trimmingWhitespace()) }
        }
        if listed { return found }
        let me = getpid()
        return all().filter { $0.parent == me }.map(\.pid)
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
