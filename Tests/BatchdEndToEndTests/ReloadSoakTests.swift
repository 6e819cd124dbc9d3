import Foundation
import Testing

/// Many reloads, alternating valid and invalid files, while jobs run: the daemon stays up, no
/// run is lost or doubled, and memory does not grow. `make test` does 100, `make stress` 1,000.
@Suite("Reload soak")
struct ReloadSoakTests {
    static let reloads = ProcessInfo.processInfo.environment["BATCHD_STRESS"] == nil ? 100 : 1_000

    @Test func reloadsWhileJobsRunLoseNothing() throws {
        let valid = { (n: Int) in """
        jobs:
          tick: { type: command, enabled: true, every: 1s, shell: 'echo tick' }
          v\(n % 3): { type: command, every: \(n % 5 + 1)m, shell: 'true' }

        """ }
        let daemon = try DaemonProcess(config: valid(0))
        daemon.waitForLine("batchd 0.1.0 started")
        let path = daemon.folder.url.appendingPathComponent("batch.yaml").path
        let rssBefore = try #require(daemon.residentKiB())
        var after = 0
        for n in 1...Self.reloads {
            let text = n % 2 == 0 ? valid(n) : "jobs:\n  tick: { type: command, every: 0s }\n"
            try text.write(toFile: path, atomically: true, encoding: .utf8)  // a rename, like an editor
            // Each save is seen before the next one (one reload per save, refused or applied).
            after = (daemon.waitForLine("reload (file changed)", after: after) ?? after) + 1
            // Keep runs going during the reloads: paced saves, and a trigger now and then.
            usleep(20_000)
            if n % 10 == 0 { _ = try daemon.cli("trigger", "tick") }
        }
        let rssAfter = try #require(daemon.residentKiB())
        #expect(daemon.process.isRunning)
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
        let records = try daemon.records("tick")
        let ids = records.compactMap { $0["id"] as? Int }
        let started = Set(daemon.log.filter { $0.contains("run started") && $0.contains("job=tick") }.compactMap(CrashTests.runID))
        #expect(ids.count == Set(ids).count, "a run was recorded twice")
        #expect(Set(ids) == started, "every tick that started was recorded")
        // Memory: allow some growth for the allocator's caches, not a leak per reload.
        #expect(rssAfter < rssBefore + 8 * 1024, "RSS grew from \(rssBefore) kB to \(rssAfter) kB over \(Self.reloads) reloads")
        print("reload soak: \(Self.reloads) reloads, \(ids.count) runs recorded, RSS \(rssBefore) kB -> \(rssAfter) kB")
    }
}
