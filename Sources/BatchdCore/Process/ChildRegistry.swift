import Foundation
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

/// When batchd runs as PID 1 (in a container), processes orphaned by jobs are re-parented to it
/// and must be reaped, or they stay zombies forever. On each SIGCHLD this reaps every zombie
/// child that is not one of batchd's own (those are reaped by their watcher).
public final class OrphanReaper: @unchecked Sendable {  // `source` is set once, in init
    private let source: DispatchSourceSignal

    /// Starts reaping when this process is PID 1 (or `force` is set); nil otherwise.
    public static func startIfPID1(force: Bool = false) -> OrphanReaper? {
        guard force || getpid() == 1 else { return nil }
        return OrphanReaper()
    }

    private init() {
        signal(SIGCHLD, SIG_DFL)
        source = DispatchSource.makeSignalSource(signal: SIGCHLD, queue: DispatchQueue(label: "batchd.reaper"))
        source.setEventHandler { OrphanReaper.reapOrphans() }
        source.resume()
    }

    static func reapOrphans() {
        let me = getpid()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for entry in entries {
            guard let pid = pid_t(entry), !ChildRegistry.contains(pid),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // Fields after the command name: state, ppid, ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] == "Z", pid_t(fields[1]) == me else { continue }
            var status: Int32 = 0
            waitpid(pid, &status, WNOHANG)
        }
    }
}
