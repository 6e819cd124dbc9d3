@testable import BatchdCore
import FoundationEssentials
import Testing

/// status.json is written field by field (`DaemonStatus.bytes`), not through a `JSONValue`
/// tree: it must be the very bytes the tree gives, which this test builds the way the file
/// was built before.
@Suite("status.json written field by field")
struct StatusFileBytesTests {
    let now = Date(timeIntervalSince1970: 1_764_590_400.123)

    func status(jobs: [DaemonStatus.Job]) -> DaemonStatus {
        DaemonStatus(pid: 4242, startedAt: now, updatedAt: now + 61.5, configPath: "/etc/batch \"x\".yaml", configHash: "fnv1a64:1",
                     loadedAt: now + 1, lastReload: .init(at: now + 2, ok: false, errors: ["line 3: bad", "tab\there\n"]),
                     schedulerRunning: true, schedulerInitialized: false, jobs: jobs)
    }

    var jobs: [DaemonStatus.Job] {
        let run = RunRecord(id: 1_042, jobType: "a", displayName: "A ✓", status: .failed, trigger: .retry, attempt: 2,
                            startedAt: now, completedAt: now + 0.25, error: "exit status 3: \"boom\"\r\n")
        return [
            .init(name: "a", type: "command", displayName: "A ✓", enabled: true, schedule: "every 5m", running: true,
                  lastRun: run, lastSuccess: now - 3600, nextRun: now + 300),
            .init(name: "b", type: "noop", displayName: "b \u{1}", enabled: false, schedule: nil, running: false,
                  lastRun: nil, lastSuccess: nil, nextRun: nil),
        ]
    }

    /// What the file said when it was a tree written by `JSONWriter`.
    func tree(_ status: DaemonStatus) -> String {
        let time = { (date: Date?) in date.map { JSONValue.string(Timestamp.iso8601($0)) } ?? .null }
        let value = JSONValue.object([
            ("pid", .int(Int64(status.pid))),
            ("startedAt", time(status.startedAt)),
            ("updatedAt", time(status.updatedAt)),
            ("scheduler", .object([("isRunning", .bool(status.schedulerRunning)), ("isInitialized", .bool(status.schedulerInitialized)),
                                   ("activeJobTimers", .int(Int64(status.activeJobTimers)))])),
            ("config", status.configJSON),
            ("jobs", .array(status.jobs.map { job in
                .object([
                    ("name", .string(job.name)), ("type", .string(job.type)), ("displayName", .string(job.displayName)),
                    ("enabled", .bool(job.enabled)), ("schedule", job.schedule.map(JSONValue.string) ?? .null),
                    ("running", .bool(job.running)),
                    ("lastRun", job.lastRun.map { run in
                        .object([("id", .int(run.id)), ("status", .string(run.status.rawValue)), ("trigger", .string(run.trigger.rawValue)),
                                 ("startedAt", time(run.startedAt)), ("completedAt", time(run.completedAt)),
                                 ("error", run.error.map(JSONValue.string) ?? .null)])
                    } ?? .null),
                    ("lastSuccess", time(job.lastSuccess)), ("nextRun", time(job.nextRun)),
                ])
            })),
        ])
        var bytes: [UInt8] = []
        JSONWriter.write(value, to: &bytes)
        bytes.append(0x0A)
        return text(bytes)
    }

    func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    @Test func theFileIsItsTreeWrittenWhole() {
        let full = status(jobs: jobs)
        #expect(text(full.bytes()) == tree(full))
        #expect(text(status(jobs: []).bytes()) == tree(status(jobs: [])))
        var noReload = full
        noReload.lastReload = nil
        #expect(text(noReload.bytes()) == tree(noReload))
    }

    @Test func aReusedBufferGivesTheSameBytes() {
        let full = status(jobs: jobs)
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 100_000)
        #expect(text(full.bytes(reusing: big)) == tree(full))
        #expect(text(full.bytes(reusing: full.bytes())) == tree(full))
    }

    /// Dates written in place are the strings `iso8601` gives, quoted: around 1970, the edges
    /// of four-digit years, and the wider years written the slow way.
    @Test func timestampsWrittenInPlaceAreTheirStrings() {
        let seconds: [TimeInterval] = [0, -0.001, -1.5, 0.999, 1_764_590_400.123, 951_782_400, 253_402_300_799.999,
                                       253_402_300_800, -62_167_219_200, -62_167_219_200.001, 4_102_444_800.5]
        for second in seconds {
            let date = Date(timeIntervalSince1970: second)
            var written: [UInt8] = []
            Timestamp.writeISO8601(date, to: &written)
            var expected: [UInt8] = []
            JSONWriter.writeString(Timestamp.iso8601(date), to: &expected)
            #expect(text(written) == text(expected), "\(second)")
        }
    }
}
