import BatchdTestKit
import Foundation
import Testing

/// Every command run ends with a SIGCHLD, which the daemon needs only for the orphans its jobs
/// leave (its own children are watched through pidfds). A burst of runs must not wake the
/// signal thread once per run: after each orphan pass it leaves SIGCHLD pending for 10 ms and
/// answers that spell's signals with one pass. (That orphans are still reaped, a burst of them
/// included, is PID1Tests'.)
@Suite struct ChildSignalTests {
    @Test func aBurstOfCommandRunsWakesTheSignalThreadOncePerSpellNotOncePerRun() throws {
        let runs = 300
        let daemon = try DaemonProcess(config: "logFormat: json\nmaxConcurrentJobs: 16\njobs:\n"
            + (0..<runs).map { "  t\($0): { type: command, command: [/bin/true], enabled: true, runOnStart: true }\n" }.joined())
        var next = 0
        for _ in 0..<runs {
            guard let found = daemon.waitForLine("\"run recorded\"", after: next, timeout: 60) else { break }
            next = found + 1
        }
        let woken = daemon.contextSwitches(thread: "batchd-signals")
        // The burst's length by the daemon's own clock: its first start to its last record.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let stamps = daemon.log.compactMap { line -> (String, Date)? in
            guard let data = line.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let message = object["message"] as? String, let stamp = object["timestamp"] as? String,
                  let date = formatter.date(from: stamp) else { return nil }
            return (message, date)
        }
        let first = try #require(stamps.filter { $0.0 == "run started" }.map(\.1).min())
        let last = try #require(stamps.filter { $0.0 == "run recorded" }.map(\.1).max())
        let spells = Int((last.timeIntervalSince(first) / 0.010).rounded(.up))
        // At most a pass per spell, each a wake-up and its sleep, and a few for start-up.
        #expect(woken <= 2 * spells + 10, "\(runs) runs in \(spells) spells of 10 ms woke the signal thread \(woken) times")
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }
}
