import BatchdCore
import BatchdTestKit
import Foundation
import Testing

/// Hot reload on the built binary: every way a file gets saved is picked up; a bad file
/// changes nothing; running jobs are never interrupted.
@Suite("Hot reload of batch.yaml")
struct ReloadTests {
    static let base = """
    jobs:
      a: { type: command, enabled: true, every: 1h, shell: 'true' }

    """

    func start(_ text: String = ReloadTests.base) throws -> DaemonProcess {
        let daemon = try DaemonProcess(config: text)
        daemon.waitForLine("batchd 0.1.0 started")
        return daemon
    }

    var file: (DaemonProcess) -> String { { $0.folder.url.appendingPathComponent("batch.yaml").path } }

    func jobNames(_ daemon: DaemonProcess) throws -> [String] {
        let status = try daemon.cli("status", "--json")
        let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        return (object?["jobs"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    @Test func anInPlaceWriteIsPickedUp() throws {
        let daemon = try start()
        try (Self.base + "  b: { type: command, shell: 'true' }\n").write(toFile: file(daemon), atomically: false, encoding: .utf8)
        daemon.waitForLine("reload (file changed): +b")
        #expect(try jobNames(daemon) == ["a", "b"])
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    @Test func aRenameOverTheFileAndSedInPlaceArePickedUp() throws {
        let daemon = try start()
        let temporary = daemon.folder.url.appendingPathComponent(".batch.yaml.swp").path
        try (Self.base + "  c: { type: command, shell: 'true' }\n").write(toFile: temporary, atomically: false, encoding: .utf8)
        #expect(rename(temporary, file(daemon)) == 0)
        let renamed = daemon.waitForLine("reload (file changed): +c") ?? 0
        #expect(try Subprocess("/bin/sed", ["-i", "s/every: 1h/every: 2h/", file(daemon)]).wait() == 0)
        daemon.waitForLine("reload (file changed): a: schedule every 1h -> every 2h", after: renamed)
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    @Test func aConfigMapStyleSymlinkSwapIsPickedUp() throws {
        let folder = try TemporaryFolder()
        let fm = FileManager.default
        let first = folder.url.appendingPathComponent("..2026_11_29_10_00_00.1")
        try fm.createDirectory(at: first, withIntermediateDirectories: true)
        try Self.base.write(to: first.appendingPathComponent("batch.yaml"), atomically: false, encoding: .utf8)
        try fm.createSymbolicLink(atPath: folder.url.appendingPathComponent("..data").path, withDestinationPath: first.lastPathComponent)
        try fm.createSymbolicLink(atPath: folder.url.appendingPathComponent("batch.yaml").path, withDestinationPath: "..data/batch.yaml")
        let daemon = try DaemonProcess(folder: folder)
        daemon.waitForLine("batchd 0.1.0 started")
        // What the kubelet does: a new timestamped folder, a new ..data link renamed over the old.
        let second = folder.url.appendingPathComponent("..2026_11_29_10_05_00.2")
        try fm.createDirectory(at: second, withIntermediateDirectories: true)
        try (Self.base + "  d: { type: command, shell: 'true' }\n").write(to: second.appendingPathComponent("batch.yaml"), atomically: false, encoding: .utf8)
        try fm.createSymbolicLink(atPath: folder.url.appendingPathComponent("..data_tmp").path, withDestinationPath: second.lastPathComponent)
        #expect(rename(folder.url.appendingPathComponent("..data_tmp").path, folder.url.appendingPathComponent("..data").path) == 0)
        try fm.removeItem(at: first)
        daemon.waitForLine("reload (file changed): +d")
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    @Test func sighupReloadsAndSaysSoEvenWhenNothingChanged() throws {
        let daemon = try start()
        daemon.signal(SIGHUP)
        daemon.waitForLine("reload (SIGHUP): the file is unchanged")
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    /// An editor's swap file, a backup, a log beside batch.yaml: events in its folder that
    /// leave it as it was. The file is read and compared, not parsed again.
    @Test func anotherFileChangingBesideItIsNotParsedAgain() throws {
        let daemon = try start("logLevel: debug\n" + Self.base)
        try "notes\n".write(toFile: daemon.folder.url.appendingPathComponent("notes.txt").path, atomically: false, encoding: .utf8)
        daemon.waitForLine("reload (file changed): the file is unchanged (not parsed again)")
        // SIGHUP still parses the file, and says so.
        daemon.signal(SIGHUP)
        daemon.waitForLine("reload (SIGHUP): the file is unchanged")
        #expect(!daemon.log.contains { $0.contains("reload (SIGHUP): the file is unchanged (not parsed again)") })
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    @Test func aBurstOfFiftyWritesGivesOneOrTwoReloads() throws {
        let daemon = try start()
        // The watcher reloads when no save has closed the file for the quiet period. Each save
        // closes the file at a moment this process cannot see, somewhere between the clock
        // readings around it, so two closes may be a quiet period apart whenever the start of
        // one save and the end of the next are: on a loaded machine this process is descheduled
        // often enough for that to happen many times in a burst (CI once saw 20 reloads where
        // the pauses between saves alone were 8). Each such possible gap may add one reload.
        var possibleGaps = 0
        var previousStart: ContinuousClock.Instant?
        for n in 0..<50 {
            // 50 saves within about 100 ms, the last one adding job "last".
            let text = n == 49 ? Self.base + "  last: { type: command, shell: 'true' }\n" : Self.base + "  j\(n % 2): { type: command, shell: 'true' }\n"
            let start = ContinuousClock.now
            try text.write(toFile: file(daemon), atomically: false, encoding: .utf8)
            if let previousStart, previousStart.duration(to: ContinuousClock.now) >= ConfigWatcher.quietPeriod { possibleGaps += 1 }
            previousStart = start
            usleep(2_000)
        }
        daemon.waitForLine("reload (file changed)", "+last")
        // One line per reload: its summary, or (when it read a save half-done) its refusal.
        let reloads = daemon.log.filter {
            $0.contains("reload (file changed): ") || $0.contains("reload (file changed) refused: the previous configuration keeps running")
        }
        #expect((1...(2 + possibleGaps)).contains(reloads.count),
                "\(reloads.count) reloads for one burst with \(possibleGaps) possible gaps of the quiet period:\n\(reloads.joined(separator: "\n"))")
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    @Test func anInvalidFileChangesNothingAndStatusShowsItsErrors() throws {
        let daemon = try start()
        try "jobs:\n  a: { type: command, enabled: true, every: 0s, shell: 'true' }\n  b: { type: comand }\n"
            .write(toFile: file(daemon), atomically: false, encoding: .utf8)
        let refused = daemon.waitForLine("refused: the previous configuration keeps running") ?? 0
        #expect(daemon.log.contains { $0.contains("batch.yaml:2:45: error: jobs.a.every: must be at least 1s (got 0s)") })
        let status = try daemon.cli("status", "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let reload = try #require((object["config"] as? [String: Any])?["lastReload"] as? [String: Any])
        #expect(reload["ok"] as? Bool == false)
        #expect((reload["errors"] as? [String])?.first?.hasSuffix("batch.yaml:2:45: error: jobs.a.every: must be at least 1s (got 0s)") == true)
        #expect(try jobNames(daemon) == ["a"])
        #expect(try daemon.cli("status").stdout.contains("last reload: REFUSED"))
        // A good file again: applied, and the status clears.
        try (Self.base + "  e: { type: command, shell: 'true' }\n").write(toFile: file(daemon), atomically: false, encoding: .utf8)
        daemon.waitForLine("reload (file changed): +e", after: refused)
        #expect(try daemon.cli("status").stdout.contains("last reload: applied"))
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    @Test func aDeletedFileKeepsTheDaemonRunningUntilItReturns() throws {
        let daemon = try start()
        #expect(unlink(file(daemon)) == 0)
        let gone = daemon.waitForLine("refused: ", "No such file or directory; the previous configuration keeps running") ?? 0
        try Self.base.write(toFile: file(daemon), atomically: false, encoding: .utf8)
        daemon.waitForLine("reload (file changed): the file is back to the running configuration", after: gone)
        #expect(try jobNames(daemon) == ["a"])
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    @Test func aRunningJobRemovedByAReloadFinishesAndIsRecorded() throws {
        let daemon = try start(Self.base + "  slow: { type: command, shell: 'echo begun; sleep 1; echo done' }\n")
        #expect(try daemon.cli("trigger", "slow").status == 0)
        daemon.waitForLine("begun", "job=slow")
        try Self.base.write(toFile: file(daemon), atomically: false, encoding: .utf8)
        let reloaded = daemon.waitForLine("reload (file changed): -slow") ?? 0
        daemon.waitForLine("run recorded", "job=slow", "status=completed", after: reloaded)
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
        #expect(try daemon.records("slow").first?["status"] as? String == "completed")
    }
}
