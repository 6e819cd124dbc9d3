@testable import BatchdCore
import Foundation
import Glibc
import Testing

/// The orphan reaper beside spawns under way: ChildRegistry no longer holds its lock across
/// `posix_spawn`, so a zombie the reaper cannot place must wait for the spawns to end, and
/// then be reaped. Real processes; the zombie is a child of the test process.
@Suite("Orphan reaping while children are being spawned")
struct OrphanReaperTests {
    /// Starts /bin/true outside the registry (an orphan, as far as batchd knows) and returns
    /// once it has exited and is a zombie (`waitid` with WNOWAIT leaves it unreaped).
    func zombie() throws -> pid_t {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        let code = posix_spawn(&pid, "/bin/true", nil, nil, argv, environ)
        try #require(code == 0)
        var info = siginfo_t()
        try #require(waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == 0)
        try #require(ProcessTable.isZombie(pid))
        return pid
    }

    /// Whether `pid` is gone (reaped), waiting up to `within` for it: the deferred reap runs
    /// when the last spawn under way ends, which may be another test's.
    func reaped(_ pid: pid_t, within: Duration) -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if kill(pid, 0) != 0 && errno == ESRCH { return true }
            sched_yield()
        }
        return false
    }

    @Test func aZombieSeenDuringASpawnIsReapedWhenTheSpawnEnds() throws {
        let orphan = try zombie()
        _ = ChildRegistry.spawning {
            // It might be the child of this very spawn, not yet registered: left alone.
            OrphanReaper.reap([orphan])
            #expect(ProcessTable.isZombie(orphan))
            return (0, nil)
        }
        #expect(reaped(orphan, within: .seconds(5)))
    }

    @Test func aZombieWithNoSpawnUnderWayIsReapedAtOnceAndOwnChildrenNever() throws {
        let own = try zombie()
        // Registered as batchd's own: only its watcher may reap it.
        _ = ChildRegistry.spawning { (0, own) }
        OrphanReaper.reap([own])
        #expect(ProcessTable.isZombie(own))
        ChildRegistry.finished(own)
        var status: Int32 = 0
        #expect(waitpid(own, &status, 0) == own)

        let orphan = try zombie()
        OrphanReaper.reap([orphan])
        // With no spawn under way anywhere in the process, the reap is immediate; another
        // test's spawn may defer it, hence the wait.
        #expect(reaped(orphan, within: .seconds(5)))
    }
}
