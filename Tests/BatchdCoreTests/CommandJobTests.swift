import BatchdCore
import BatchdHandlers
import BatchdTestKit
import Foundation
import Logging
import Testing

/// The command job with real processes: what it runs, what it records, how it ends.
@Suite("Command jobs with real processes")
struct CommandJobTests {
    /// Runs one job of `yaml` through `Engine.runOnce` on the real clock, in a temporary folder.
    func runOnce(_ yaml: String, job: String = "job", cancelAfterStart: Bool = false) async throws -> RunRecord {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("batchd-cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = try ConfigLoader(registry: BuiltInJobTypes.registry)
            .load(bytes: Array(yaml.utf8), path: folder.appendingPathComponent("batch.yaml").path).get()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let history = InMemoryHistoryStore()
        return try await Engine.runOnce(try #require(config.job(named: job)), config: config, history: history, logger: logger,
                                        environment: ["PATH": "/usr/bin:/bin", "FROM_DAEMON": "daemon"])
    }

    @Test func argvEnvironmentAndWorkingDirectory() async throws {
        let record = try await runOnce("""
        jobs:
          job:
            type: command
            command: [/bin/sh, -c, 'echo "$GREETING from $(pwd) and $FROM_DAEMON"; echo oops >&2']
            env: { GREETING: hello }
            workingDirectory: /tmp
        """)
        #expect(record.status == .completed)
        // stdout and stderr are two pipes: their lines keep their own order, not each other's.
        let lines = record.logs.filter { $0.metadata.contains { $0.0 == "stream" } }.map { "\($0.level.rawValue) \($0.message)" }
        #expect(lines.sorted() == ["info hello from /tmp and daemon", "warn oops"])
    }

    @Test func theLastStdoutLineSetsTheCounters() async throws {
        let record = try await runOnce("""
        jobs:
          job: { type: command, shell: 'echo scanning; echo "{\\"itemsChecked\\": 12, \\"itemsUpdated\\": 2, \\"changed\\": [\\"a\\"]}"' }
        """)
        #expect(record.itemsChecked == 12 && record.itemsUpdated == 2)
        #expect(record.result == ["itemsChecked": 12, "itemsUpdated": 2, "changed": ["a"]])
    }

    @Test func aNonZeroExitIsAFailedRunWithTheStatusInTheError() async throws {
        let record = try await runOnce("jobs:\n  job: { type: command, shell: 'echo partial; exit 3' }\n")
        #expect(record.status == .failed)
        #expect(record.error == "/bin/sh exited with status 3")
    }

    @Test func aProgramThatDoesNotExistIsAFailedRunThatSaysSo() async throws {
        let record = try await runOnce("jobs:\n  job: { type: command, command: [no-such-program-batchd, --flag] }\n")
        #expect(record.status == .failed)
        #expect(record.error == "command not found: no-such-program-batchd")
    }

    /// The spawn reports what execve said in the child, through the memory it shares with the
    /// parent until then: a file without execute permission, and a path that does not exist.
    /// (A bare name that is nowhere on PATH: `aProgramThatDoesNotExistIsAFailedRunThatSaysSo`.)
    @Test func aProgramThatCannotBeExecutedIsAFailedRunThatSaysWhy() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("batchd-noexec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("not-executable").path
        try "#!/bin/sh\necho hi\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o644)
        let direct = try await runOnce("jobs:\n  job: { type: command, command: [\(script)] }\n")
        #expect(direct.status == .failed)
        #expect(direct.error == "permission denied: \(script) is not executable")
        let missing = try await runOnce("jobs:\n  job: { type: command, command: [\(folder.path)/no-such-program] }\n")
        #expect(missing.error == "command not found: \(folder.path)/no-such-program")
    }

    /// What a child starts with: stdin from /dev/null (one descriptor the daemon keeps open for
    /// every child), no descriptor of the daemon's (this test process has some without
    /// close-on-exec), no signal blocked or ignored (it was started by posix_spawn, which leaves
    /// glibc's own two signals ignored). Twice: the first spawn sets up what later ones reuse.
    @Test func aChildStartsWithNullStdinItsOwnThreeDescriptorsAndNoSignalsHeldBack() async throws {
        let leaked = open("/dev/null", O_RDONLY)  // not close-on-exec
        defer { close(leaked) }
        for _ in 0..<2 {
            func output(_ command: String) async throws -> [String] {
                let record = try await runOnce("jobs:\n  job: { type: command, command: \(command) }\n")
                #expect(record.status == .completed, "\(command): \(record.error ?? "")")
                return record.logs.filter { $0.metadata.contains { $0.0 == "stream" } }.map(\.message)
            }
            #expect(try await output("[readlink, /proc/self/fd/0]") == ["/dev/null"])
            #expect(try await output("[ls, /proc/self/fd]") == ["0", "1", "2", "3"], "3 is ls's own, for the folder")
            #expect(try await output("[grep, -E, '^Sig(Blk|Ign)', /proc/self/status]") == ["SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"])
        }
    }

    @Test func aMissingWorkingDirectoryIsAFailedRunThatSaysSo() async throws {
        let record = try await runOnce("jobs:\n  job: { type: command, command: [pwd], workingDirectory: /nonexistent/dir }\n")
        #expect(record.status == .failed)
        #expect(record.error == "working directory does not exist: /nonexistent/dir")
    }

    @Test func aTimeoutEndsTheWholeProcessTreeAndLeavesNothingBehind() async throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("batchd-tree-\(UUID().uuidString)").path
        defer { unlink(marker) }
        let record = try await runOnce("""
        jobs:
          job:
            type: command
            timeout: 3s
            shell: 'echo $$ > \(marker); sleep 300 & sleep 301 & wait'
        """)
        #expect(record.status == .timeout)
        #expect(record.error == "timed out after 3s")
        let group = try #require(pid_t(try String(contentsOfFile: marker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!processGroupHasLiveMembers(group), "processes of group \(group) are still running")
    }

    @Test func aChildThatIgnoresSIGTERMIsKilledAfterTheGrace() async throws {
        // The shell ignores SIGTERM; SIGKILL follows after the spec's 10 s grace (so this test
        // takes 10 s: the escalation is the thing under test).
        let record = try await runOnce("""
        jobs:
          job: { type: command, timeout: 500ms, shell: "trap '' TERM; while :; do sleep 0.1; done" }
        """)
        #expect(record.status == .timeout)
    }

    @Test func logEntriesAreCappedAndTheDropIsSaid() async throws {
        let record = try await runOnce("""
        history: { maxLogEntriesPerRun: 10 }
        jobs:
          job: { type: command, shell: 'seq 1 500' }
        """)
        #expect(record.logs.count == 11)
        // 500 output lines and the closing "run completed": 10 kept, 491 dropped.
        #expect(record.logs.last?.message.hasPrefix("491 more log entries were dropped") == true)
    }

    @Test func theHTTPJobFailsClearlyWhenNothingListens() async throws {
        let record = try await runOnce("jobs:\n  job: { type: http, url: 'http://127.0.0.1:9/ping' }\n")
        #expect(record.status == .failed)
        #expect(record.error?.hasPrefix("http://127.0.0.1:9/ping: ") == true)
    }
}

/// Whether any process of the group is alive, zombies aside, read from /proc.
func processGroupHasLiveMembers(_ group: pid_t) -> Bool {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.contains { name in
        guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 3 && pid_t(fields[2]) == group && fields[0] != "Z"
    }
}
