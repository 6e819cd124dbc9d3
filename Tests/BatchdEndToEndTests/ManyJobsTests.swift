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

    /// The daemon keeps its history files open above a band of descriptor numbers that its
    /// children do not copy (`DescriptorBudget`): it raises its own descriptor limit for them,
    /// and a command it starts while it holds them sees only stdin, stdout and stderr and the
    /// limit the daemon was started with. The child shares the daemon's descriptor table until
    /// it takes its own copy: the daemon's stderr must still be its log afterwards.
    @Test func aCommandSeesNoneOfTheHistoryFilesTheDaemonHoldsOpen() throws {
        let jobs = 300
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", "logFormat: json\nmaxConcurrentJobs: 16\njobs:\n"
            + "  fds: { type: command, enabled: true, command: [sh, -c, 'ls /proc/self/fd | tr \"\\\\n\" \" \"; echo; ulimit -Sn'] }\n"
            + (0..<jobs).map { "  j\($0): { type: noop, enabled: true, runOnStart: true }\n" }.joined())
        let daemon = try DaemonProcess(folder: folder, launcher: ["/usr/bin/prlimit", "--nofile=1500:4096"])
        var next = 0
        for _ in 0..<jobs {
            guard let found = daemon.waitForLine("\"run recorded\"", after: next, timeout: 60) else { break }
            next = found + 1
        }
        let descriptors = "/proc/\(daemon.pid)/fd"
        let held = try FileManager.default.contentsOfDirectory(atPath: descriptors).compactMap { name -> Int? in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(descriptors)/\(name)")) ?? ""
            return target.hasSuffix(".jsonl") && target.contains("/runs/") ? Int(name) : nil
        }
        #expect(held.count == jobs, "one open history file per job that ran: \(held.count)")
        #expect(held.allSatisfy { $0 >= 1024 }, "all at or above the band: lowest \(held.min() ?? -1)")
        let limits = try String(contentsOfFile: "/proc/\(daemon.pid)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains("4096") && !$0.contains("1500") },
                "the daemon raised its soft limit to the hard one: \(limits)")
        let stderrBefore = try FileManager.default.destinationOfSymbolicLink(atPath: "\(descriptors)/2")

        #expect(try daemon.cli("trigger", "fds").status == 0)
        let listing = daemon.waitForLine("\"stream\":\"stdout\"", after: next)
        let recorded = daemon.waitForLine("\"run recorded\"", "\"job\":\"fds\"", after: next)
        #expect(recorded != nil, "the daemon's log goes on after the spawn")
        let output = daemon.log[next...].filter { $0.contains("\"stream\":\"stdout\"") }.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["message"] as? String
        }
        #expect(listing != nil && output.first?.trimmingCharacters(in: .whitespaces) == "0 1 2 3",
                "ls sees its stdin, stdout, stderr and its own listing of the folder: \(output)")
        #expect(output.dropFirst().first == "1500", "the child has the limit the daemon was started with: \(output)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(descriptors)/2") == stderrBefore)
        daemon.process.signal(SIGTERM)
        #expect(daemon.process.wait() == 0)
    }
}
