import Foundation
import Testing

/// `batchd runs`, `status` and `reindex` on the built binary, beside a daemon and without one.
@Suite("runs, status and reindex end to end")
struct HistoryCommandTests {
    @Test func runsStatusAndReindex() throws {
        let daemon = try DaemonProcess(config: """
        jobs:
          good: { type: command, enabled: true, every: 1h, shell: 'echo "{\\"itemsChecked\\": 4, \\"itemsUpdated\\": 1}"' }
          bad: { type: command, retry: { maxAttempts: 1 }, shell: 'exit 7' }
        """)
        daemon.waitForLine("run recorded", "job=good")
        #expect(try daemon.cli("trigger", "bad").status == 0)
        daemon.waitForLine("run recorded", "job=bad")
        daemon.waitForStatus(lastRuns: ["good": "completed", "bad": "failed"])

        let json = try daemon.cli("runs", "--json")
        #expect(json.status == 0)
        let records = try json.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(records.map { $0["jobType"] as? String } == ["bad", "good"])  // newest first
        #expect(records.map { $0["status"] as? String } == ["failed", "completed"])

        let table = try daemon.cli("runs", "--job", "good")
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("ID  JOB   STATUS     TRIGGER   STARTED") == true)
        #expect(lines.count == 2 && lines[1].contains("good  completed  schedule") && lines[1].contains("4        1"))

        let failedOnly = try daemon.cli("runs", "--status", "failed", "--json")
        #expect(failedOnly.stdout.split(separator: "\n").count == 1)
        let badStatus = try daemon.cli("runs", "--status", "broken")
        #expect(badStatus.status == 64 && badStatus.stderr.contains("--status must be one of completed, failed, timeout, cancelled, interrupted"))

        let status = try daemon.cli("status", "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(object["daemonRunning"] as? Bool == true)
        let jobs = try #require(object["jobs"] as? [[String: Any]])
        #expect(jobs.map { $0["name"] as? String } == ["good", "bad"])
        #expect((jobs[0]["lastRun"] as? [String: Any])?["status"] as? String == "completed")
        #expect(jobs[0]["nextRun"] is String)
        let human = try daemon.cli("status")
        #expect(human.stdout.hasPrefix("daemon: running (pid \(daemon.pid))"))
        #expect(human.stdout.contains("good  yes"))

        let busy = try daemon.cli("reindex")
        #expect(busy.status == 1 && busy.stderr.contains("is using"))
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)

        // Without the daemon: status says so, reindex rebuilds, runs still answer.
        let stopped = try daemon.cli("status")
        #expect(stopped.stdout.hasPrefix("daemon: not running"))
        unlink(daemon.stateDirectory.appendingPathComponent("runs/good.idx").path)
        let reindex = try daemon.cli("reindex")
        #expect(reindex.status == 0)
        #expect(reindex.stdout.contains("reindexed bad") && reindex.stdout.contains("reindexed good"))
        #expect(try daemon.cli("runs", "--json", "--limit", "1").stdout.contains("\"jobType\":\"bad\""))
    }
}
