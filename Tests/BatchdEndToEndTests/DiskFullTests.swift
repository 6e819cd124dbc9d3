import BatchdTestKit
import Foundation
import Testing

/// A full disk under the state directory (a 512 KiB tmpfs): runs that cannot be recorded are
/// logged with a clear error and kept, the daemon keeps running, and when space returns the
/// kept runs are written and recording goes on. Needs root to mount the tmpfs (CI runs as root).
@Suite("Disk full", .enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
struct DiskFullTests {
    @Test func recordingResumesWhenSpaceReturnsAndNothingIsLost() throws {
        let folder = try TemporaryFolder()
        let state = folder.url.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let mount = try Subprocess("/bin/mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", state.path])
        try #require(mount.wait() == 0, "cannot mount a tmpfs")
        defer { _ = try? Subprocess("/bin/umount", ["-l", state.path]).wait() }
        try folder.write("batch.yaml", """
        stateDir: state
        jobs:
          tick: { type: command, enabled: true, every: 1s, shell: 'echo tick' }
        """)
        let daemon = try DaemonProcess(folder: folder)
        let first = daemon.waitForLine("run recorded", "job=tick") ?? 0

        // Fill the disk.
        let filler = state.appendingPathComponent("filler").path
        let fd = open(filler, O_WRONLY | O_CREAT, 0o644)
        let block = [UInt8](repeating: 0x41, count: 4096)
        while write(fd, block, block.count) == block.count {}
        close(fd)
        let failed = daemon.waitForLine("cannot record run yet", "No space left on device", after: first) ?? 0
        #expect(daemon.process.isRunning)

        // Space returns: the kept runs are written first, then recording goes on.
        unlink(filler)
        daemon.waitForLine("run recorded", "job=tick", after: failed)
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)

        let lines = try String(contentsOf: state.appendingPathComponent("runs/tick.jsonl"), encoding: .utf8).split(separator: "\n")
        let ids = try lines.map { try #require((try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? Int) }
        let started = Set(daemon.log.filter { $0.contains("run started") }.compactMap(CrashTests.runID))
        #expect(Set(ids) == started, "every run that started is recorded, also those that finished while the disk was full")
        #expect(ids.count == Set(ids).count)
    }
}
