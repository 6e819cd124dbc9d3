import BatchdTestKit
import Foundation
import Testing

/// More jobs than a process may hold files open: systemd gives services a soft limit of 1,024
/// descriptors, and batchd used to keep two open for every job that had run.
@Suite struct ManyJobsTests {
    @Test func moreJobsThanTheDescriptorLimitAllowsAreRecordedAcrossARestart() throws {
        let jobs = 300
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", "logFormat: json\nmaxConcurrentJobs: 16\njobs:\n"
            + (0..<jobs).map { "  j\($0): { type: noop, enabled: true, runOnStart: true }\n" }.joined())
        // 200 descriptors: fewer than two per job, more than batchd needs for its own use.
        let launcher = ["/usr/bin/prlimit", "--nofile=200:200"]
        for start in 1...2 {
            // The second start reopens every job's history (and checks its index) first.
            let daemon = try DaemonProcess(folder: folder, launcher: launcher)
            var next = 0
            for _ in 0..<jobs {
                guard let found = daemon.waitForLine("\"run recorded\"", after: next, timeout: 60) else { break }
                next = found + 1
            }
            let log = daemon.log
            #expect(log.filter { $0.contains("\"run recorded\"") }.count == jobs, "start \(start)")
            #expect(!log.contains { $0.contains("\"level\":\"error\"") || $0.contains("\"level\":\"warning\"") },
                    "start \(start): \(log.filter { $0.contains("error") || $0.contains("warning") }.prefix(3))")
            let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd").count
            #expect(open < 200, "start \(start): \(open) descriptors open")
            daemon.process.signal(SIGTERM)
            #expect(daemon.process.wait() == 0)
        }
        let runs = try BatchdProcess.run(["runs", "--job", "j123", "--json"], in: folder.url)
        #expect(runs.status == 0)
        #expect(runs.stdout.split(separator: "\n").count == 2, "\(runs.stdout)")
    }
}
