import BatchdTestKit
import Foundation
import Testing

/// batchd as PID 1 (as in a container), in a PID namespace of its own: the children its jobs
/// leave behind are re-parented to it, and it must reap them, or they stay zombies forever.
@Suite("batchd as PID 1", .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "a PID namespace needs root and unshare"))
struct PID1Tests {
    @Test func orphansOfJobsAreReapedAndSIGTERMStillStopsIt() throws {
        let folder = try TemporaryFolder()
        let config = try folder.write("batch.yaml", """
        jobs:
          orphans: { type: command, enabled: true, every: 1s, shell: 'sleep 0.1 & sleep 0.2 & echo left two behind' }
        """)
        let log = folder.url.appendingPathComponent("log")
        let process = try Subprocess("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL", BatchdProcess.binary.path, "run", "--config", config.path],
                                     stderr: .file(log.path))

        // The daemon is unshare's child; inside its namespace it is PID 1.
        let daemon = try #require(waitFor(seconds: 20) { childPID(of: process.pid) })
        #expect(try String(contentsOfFile: "/proc/\(daemon)/status", encoding: .utf8).contains("NSpid:\t\(daemon)\t1"))
        // Three runs, six orphans; once their sleeps end, none may stay a zombie.
        _ = try #require(waitFor(seconds: 20) { try? String(contentsOf: log, encoding: .utf8).components(separatedBy: "run recorded").count > 3 ? true : nil } as Bool?)
        let reaped = waitFor(seconds: 10) { zombieChildren(of: daemon) == 0 ? true : nil }
        #expect(reaped == true, "zombie children of the daemon remain: \(zombieChildren(of: daemon))")
        // Signals from the parent namespace still reach it (unshare itself ignores SIGTERM).
        kill(daemon, SIGTERM)
        process.wait()
        #expect(try String(contentsOf: log, encoding: .utf8).contains("stopped; every run is recorded"))
    }

    /// Twenty orphans ending within a few milliseconds of each other: the SIGCHLDs after the
    /// first fall inside the pause between two orphan passes, and nothing runs afterwards to
    /// send another. The pass owed for them must still come.
    @Test func aBurstOfOrphansIsReapedWhenNoFurtherSignalComes() throws {
        let folder = try TemporaryFolder()
        let config = try folder.write("batch.yaml", """
        jobs:
          burst: { type: command, enabled: true, runOnStart: true, shell: 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 0.05 & done; echo left twenty' }
        """)
        let log = folder.url.appendingPathComponent("log")
        let process = try Subprocess("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL", BatchdProcess.binary.path, "run", "--config", config.path],
                                     stderr: .file(log.path))
        let daemon = try #require(waitFor(seconds: 20) { childPID(of: process.pid) })
        _ = try #require(waitFor(seconds: 20) { try? String(contentsOf: log, encoding: .utf8).contains("run recorded") ? true : nil } as Bool?)
        let reaped = waitFor(seconds: 10) { zombieChildren(of: daemon) == 0 && liveChildren(of: daemon) == 0 ? true : nil }
        #expect(reaped == true, "children of the daemon remain: \(zombieChildren(of: daemon)) zombies, \(liveChildren(of: daemon)) alive")
        kill(daemon, SIGTERM)
        process.wait()
    }

    func liveChildren(of parent: Int32) -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").count - zombieChildren(of: parent)
    }

    func childPID(of parent: Int32) -> Int32? {
        let text = try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8)
        return text?.split(separator: " ").first.flatMap { Int32($0) }
    }

    func zombieChildren(of parent: Int32) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.filter { name in
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && fields[0] == "Z" && Int32(fields[1]) == parent
        }.count
    }

    /// Polls a condition that only the outside world can change (another process's state),
    /// every 20 ms until `seconds` pass.
    func waitFor<T>(seconds: Double, _ condition: () -> T?) -> T? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let value = condition() { return value }
            usleep(20_000)
        }
        return nil
    }
}
