import BatchdTestKit
import Foundation
import Testing

/// A `batchd run` daemon started from the built binary, whose stderr log is read line by line
/// on a thread, so that a test blocks until a given line appears instead of sleeping.
final class DaemonProcess: @unchecked Sendable {  // the log's state behind `log.condition`
    let process: Subprocess
    let folder: TemporaryFolder
    /// Held by the reader thread too, but not `self`: a test that fails before it stops the
    /// daemon still lets go of it, and deinit kills the daemon (it used to outlive the tests).
    private final class Log: @unchecked Sendable {
        let condition = NSCondition()
        var lines: [String] = []
        var ended = false
    }
    private let output = Log()

    convenience init(config: String, environment: [String: String] = [:]) throws {
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", config)
        try self.init(folder: folder, environment: environment)
    }

    /// `launcher` runs the daemon through another program (`prlimit --nofile=...`), which must
    /// exec it in place, so that `pid` stays the daemon's.
    init(folder: TemporaryFolder, environment: [String: String] = [:], arguments: [String] = [], launcher: [String] = []) throws {
        self.folder = folder
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        let command = launcher + [BatchdProcess.binary.path, "run", "--config", folder.url.appendingPathComponent("batch.yaml").path] + arguments
        process = try Subprocess(command[0], Array(command.dropFirst()), environment: env, directory: folder.url.path, stderr: .pipe)
        let reader = process.stderrReader!
        let thread = Thread { [output] in
            var buffer = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    output.condition.withLock {
                        output.lines.append(line)
                        output.condition.broadcast()
                    }
                }
            }
            output.condition.withLock {
                output.ended = true
                output.condition.broadcast()
            }
        }
        thread.start()
    }

    deinit {
        process.signal(SIGKILL)
        process.wait()
    }

    var stateDirectory: URL { folder.url.appendingPathComponent(".batchd") }
    var pid: Int32 { process.pid }

    /// A line of /proc/PID/status in KiB: "VmRSS:", "RssFile:" (pages of files, the program's
    /// own among them), "RssAnon:". Nil once the daemon is gone.
    func residentKiB(_ field: String = "VmRSS:") -> Int? {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix(field) }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
    }

    /// Polls `residentKiB(field)` until it is at most `limit` KiB or `timeout` passes; returns
    /// the last figure read. A poll, because memory going back has no log line to wait for.
    func waitForResident(_ field: String, atMost limit: Int, timeout: Double = 30) -> Int? {
        let deadline = Date().addingTimeInterval(timeout)
        var seen = residentKiB(field)
        while let current = seen, current > limit, Date() < deadline {
            usleep(20_000)
            seen = residentKiB(field)
        }
        return seen
    }

    /// The daemon's context switches while `wait` runs, and how many times it logged that the
    /// wall clock was set meanwhile: each setting wakes it, rightly, so a window with one says
    /// nothing about timers.
    func wakeUps(during wait: () -> Void) -> (switches: Int, clockSettings: Int) {
        let lines = log.count
        let before = contextSwitches()
        wait()
        let switches = contextSwitches() - before
        return (switches, log[lines...].filter { $0.contains("the wall clock was set") }.count)
    }

    /// Context switches (voluntary and not) summed over the daemon's threads, or over those
    /// named `thread` only: each wake-up of any of them counts.
    func contextSwitches(thread: String? = nil) -> Int {
        let tasks = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).filter { task in
            thread.map { (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == $0 } ?? true
        }
        return tasks.reduce(0) { total, task in
            let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
            return total + status.split(separator: "\n").filter { $0.contains("ctxt_switches") }
                .compactMap { Int($0.split(separator: "\t").last?.trimmingCharacters(in: .whitespaces) ?? "") }.reduce(0, +)
        }
    }

    /// Blocks until a log line contains every one of `parts` (counting from line `after`), or
    /// fails the test after `timeout`. Returns the line's index.
    @discardableResult
    func waitForLine(_ parts: String..., after: Int = 0, timeout: Double = 20, sourceLocation: SourceLocation = #_sourceLocation) -> Int? {
        let deadline = Date().addingTimeInterval(timeout)
        return output.condition.withLock {
            var index = after
            while true {
                while index < output.lines.count {
                    if parts.allSatisfy(output.lines[index].contains) { return index }
                    index += 1
                }
                if output.ended || !output.condition.wait(until: deadline) {
                    Issue.record("no log line with \(parts) within \(timeout) s; the log:\n\(output.lines.joined(separator: "\n"))", sourceLocation: sourceLocation)
                    return nil
                }
            }
        }
    }

    var log: [String] { output.condition.withLock { output.lines } }

    /// Blocks until status.json shows `lastRun.status` for each job named (the file follows
    /// the history by a rewrite, a few milliseconds after the "run recorded" line), or fails
    /// the test after `timeout`. Polls the file: it is replaced by a rename, never written in place.
    func waitForStatus(lastRuns expected: [String: String], timeout: Double = 10, sourceLocation: SourceLocation = #_sourceLocation) {
        let path = stateDirectory.appendingPathComponent("status.json").path
        let deadline = Date().addingTimeInterval(timeout)
        var seen: [String: String] = [:]
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: path),
               let jobs = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["jobs"] as? [[String: Any]] {
                seen = Dictionary(jobs.compactMap { job in
                    (job["name"] as? String).map { ($0, ((job["lastRun"] as? [String: Any])?["status"] as? String) ?? "none") }
                }, uniquingKeysWith: { first, _ in first })
                if expected.allSatisfy({ seen[$0.key] == $0.value }) { return }
            }
            usleep(5_000)
        }
        Issue.record("status.json did not show \(expected) within \(timeout) s; last seen: \(seen)", sourceLocation: sourceLocation)
    }

    /// Runs `batchd ARGS --config ...` against this daemon's configuration.
    func cli(_ arguments: String...) throws -> BatchdProcess.Outcome {
        try BatchdProcess.run(arguments + ["--config", folder.url.appendingPathComponent("batch.yaml").path], in: folder.url)
    }

    func signal(_ number: Int32) {
        process.signal(number)
    }

    /// Waits for the daemon to exit and returns its status.
    func exitStatus() -> Int32 {
        process.wait()
    }

    /// The run records of `job`, parsed loosely (the unit tests check the format exactly).
    func records(_ job: String) throws -> [[String: Any]] {
        let path = stateDirectory.appendingPathComponent("runs/\(job).jsonl").path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }
}
