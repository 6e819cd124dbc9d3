import Foundation
import Testing

/// kill -9 at random moments while the daemon records runs quickly; after every restart the
/// history must be whole. `make test` tries a modest number of kill points, `make stress` more.
@Suite("Crash safety: SIGKILL at random moments")
struct CrashTests {
    static let killPoints = ProcessInfo.processInfo.environment["BATCHD_STRESS"] == nil ? 6 : 60

    @Test func everyRecordedRunSurvivesAndCutOffRunsBecomeInterruptedOnce() throws {
        let config = """
        maxConcurrentJobs: 8
        history: { fsync: true }
        jobs:
        \((0..<6).map { "  fast\($0): { type: command, enabled: true, every: 1s, shell: 'echo x' }" }.joined(separator: "\n"))
          slow: { type: command, enabled: true, every: 1s, shell: 'sleep 0.3' }
        """
        let first = try DaemonProcess(config: config)
        let folder = first.folder
        var daemon = first
        var random = SystemRandomNumberGenerator()
        var recorded = Set<Int>(), started = Set<Int>()
        for point in 0..<Self.killPoints {
            daemon.waitForLine("batchd 0.1.0 started")
            // The kill point: a random moment while runs start and finish.
            usleep(UInt32.random(in: 300_000...1_500_000, using: &random))
            daemon.signal(SIGKILL)
            _ = daemon.exitStatus()
            for line in daemon.log {
                if line.contains("run recorded"), let id = Self.runID(line) { recorded.insert(id) }
                if line.contains("run started"), let id = Self.runID(line) { started.insert(id) }
            }
            // Restart on the same state directory: recovery happens at start.
            daemon = try DaemonProcess(reusing: folder)
            daemon.waitForLine("batchd 0.1.0 started")
            try Self.checkHistory(folder: folder, recorded: recorded, started: started, point: point)
        }
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
        #expect(!recorded.isEmpty)
        print("crash test: \(Self.killPoints) kill points, \(recorded.count) runs recorded, \(started.subtracting(recorded).count) cut off")
    }

    static func runID(_ line: String) -> Int? {
        guard let range = line.range(of: " run=") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    static func checkHistory(folder: TemporaryFolder, recorded: Set<Int>, started: Set<Int>, point: Int) throws {
        let runs = folder.url.appendingPathComponent(".batchd/runs")
        var seen: [Int: String] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: runs.path) where file.hasSuffix(".jsonl") {
            let text = try String(contentsOf: runs.appendingPathComponent(file), encoding: .utf8)
            #expect(text.isEmpty || text.hasSuffix("\n"), "kill point \(point): \(file) does not end with a whole line")
            for line in text.split(separator: "\n") {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                let id = try #require(object?["id"] as? Int, "kill point \(point): a line without an id in \(file)")
                #expect(seen[id] == nil, "kill point \(point): run \(id) appears twice")
                seen[id] = object?["status"] as? String
            }
        }
        for id in recorded {
            #expect(seen[id] != nil, "kill point \(point): run \(id) was logged as recorded but is not in the history")
        }
        for id in started.subtracting(recorded) {
            // Cut off: recorded as interrupted at the restart (or, if the kill fell between the
            // append and its log line, recorded as it finished).
            #expect(seen[id] != nil, "kill point \(point): run \(id) started but is neither recorded nor interrupted")
        }
    }
}

extension DaemonProcess {
    /// Another daemon on the same folder (and so the same batch.yaml and state directory).
    convenience init(reusing folder: TemporaryFolder) throws {
        try self.init(folder: folder)
    }
}
