import Foundation
import Testing

@Suite("batchd validate and next, on the built binary")
struct ValidateCommandTests {
    @Test func aValidFilePrintsNothingAndExitsZero() throws {
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", "jobs:\n  a: { type: command, every: 1m, shell: 'true' }\n")
        let outcome = try BatchdProcess.run(["validate"], in: folder.url)
        #expect(outcome.status == 0)
        #expect(outcome.stdout == "")
        #expect(outcome.stderr == "")
    }

    @Test func anInvalidFilePrintsEveryErrorAndExitsOne() throws {
        let folder = try TemporaryFolder()
        let file = try folder.write("jobs.yaml", """
        jobs:
          docker-hub-pull:
            intervalMinutes: 0
            images: [nginx]
          backup:
            type: comand

        """)
        let outcome = try BatchdProcess.run(["validate", "--config", file.path])
        #expect(outcome.status == 1)
        #expect(outcome.stdout == "")
        #expect(outcome.stderr == """
        \(file.path):3:22: error: jobs.docker-hub-pull.intervalMinutes: must be between 1 and 1440 (got 0)
        \(file.path):6:11: error: jobs.backup.type: unknown job type 'comand' (did you mean 'command'?); built-in types: command, docker-hub-pull, http, noop, tracked-apps-check

        """)
    }

    @Test func anUnreadableFileExitsTwo() throws {
        let folder = try TemporaryFolder()
        let missing = try BatchdProcess.run(["validate", "--config", "nope.yaml"], in: folder.url)
        #expect(missing.status == 2)
        #expect(missing.stderr == "nope.yaml: error: cannot read the configuration: No such file or directory\n")

        let directory = try BatchdProcess.run(["validate", "--config", folder.url.path])
        #expect(directory.status == 2)
        #expect(directory.stderr == "\(folder.url.path): error: cannot read the configuration: it is a directory\n")
    }

    @Test func theConfigPathComesFromTheFlagThenTheEnvironmentThenTheCurrentFolder() throws {
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", "jobs: {}\n")
        try folder.write("bad.yaml", "jobs: [\n")
        // ./batch.yaml when nothing else is said.
        #expect(try BatchdProcess.run(["validate"], in: folder.url).status == 0)
        // $BATCHD_CONFIG beats ./batch.yaml.
        let fromEnvironment = try BatchdProcess.run(["validate"], in: folder.url, environment: ["BATCHD_CONFIG": "bad.yaml"])
        #expect(fromEnvironment.status == 1)
        #expect(fromEnvironment.stderr.hasPrefix("bad.yaml:2:1: error: YAML syntax error"))
        // --config beats $BATCHD_CONFIG.
        #expect(try BatchdProcess.run(["validate", "--config", "batch.yaml"], in: folder.url, environment: ["BATCHD_CONFIG": "bad.yaml"]).status == 0)
    }

    @Test func theShippedBatchYamlIsValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let outcome = try BatchdProcess.run(["validate", "--config", root.appendingPathComponent("batch.yaml").path])
        #expect(outcome.status == 0, "\(outcome.stderr)")
    }

    @Test func nextPrintsFireTimesInLocalTimeAndUTC() throws {
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", """
        jobs:
          nightly:
            type: command
            enabled: true
            cron: "0 3 * * *"
            timezone: Asia/Tokyo
            command: [backup]
          manual: { type: command, shell: "true" }

        """)
        let outcome = try BatchdProcess.run(["next", "--job", "nightly", "--count", "3"], in: folder.url)
        #expect(outcome.status == 0)
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines.first == "nightly: cron '0 3 * * *' (Asia/Tokyo)")
        // Tokyo has no DST: 03:00 +09:00 is always 18:00 UTC the day before.
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ").map(String.init)
            #expect(fields.count == 4)
            #expect(fields[1] == "03:00:00" && fields[2] == "+09:00")
            #expect(fields[3].hasSuffix("T18:00:00.000Z"))
        }

        let manual = try BatchdProcess.run(["next", "--job", "manual"], in: folder.url)
        #expect(manual.stdout == "manual: no schedule (runs when triggered) [disabled: will not run on schedule]\n")
    }

    @Test func zonesComeFromTzdataAndTheLocalZoneFromTZ() throws {
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", """
        jobs:
          berlin: { type: noop, enabled: true, cron: "30 2 * * *", timezone: Europe/Berlin }
          local: { type: noop, enabled: true, cron: "0 12 * * *" }

        """)
        // The local zone as the C library finds it: a name in TZ, or a POSIX rule.
        let named = try BatchdProcess.run(["next", "--job", "local", "--count", "1"], in: folder.url, environment: ["TZ": "America/St_Johns"])
        #expect(named.stdout.hasPrefix("local: cron '0 12 * * *' (local time, America/St_Johns)\n"))
        #expect(named.stdout.contains(" 12:00:00 -03:30 ") || named.stdout.contains(" 12:00:00 -02:30 "))
        let rule = try BatchdProcess.run(["next", "--job", "local", "--count", "1"], in: folder.url, environment: ["TZ": "<+0545>-5:45"])
        #expect(rule.stdout.contains(" 12:00:00 +05:45 "))

        // A machine without tzdata (an empty TZDIR): UTC still works, a named zone is refused
        // with the place it was looked for.
        let empty = try TemporaryFolder()
        try folder.write("utc.yaml", "jobs:\n  utc: { type: noop, enabled: true, cron: '0 12 * * *', timezone: UTC }\n")
        let utc = try BatchdProcess.run(["next", "--config", "utc.yaml", "--count", "1"], in: folder.url, environment: ["TZDIR": empty.url.path])
        #expect(utc.status == 0)
        #expect(utc.stdout.hasPrefix("utc: cron '0 12 * * *' (UTC)\n"))
        let missing = try BatchdProcess.run(["validate"], in: folder.url, environment: ["TZDIR": empty.url.path])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("jobs.berlin.timezone: unknown time zone 'Europe/Berlin'"))
        #expect(missing.stderr.contains("there is no time zone database in \(empty.url.path) (install Debian's tzdata), so only UTC is known"))
    }

    @Test func nextRefusesUnknownJobsAndBadCounts() throws {
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", "jobs:\n  nightly: { type: command, shell: 'true' }\n")
        let unknown = try BatchdProcess.run(["next", "--job", "nighty"], in: folder.url)
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "batch.yaml: error: no job named 'nighty' (did you mean 'nightly'?)\n")

        let badCount = try BatchdProcess.run(["next", "--count", "0"], in: folder.url)
        #expect(badCount.status == 64)
        #expect(badCount.stderr.contains("--count must be between 1 and 1000 (got 0)"))
    }

    @Test(arguments: [["--help"], ["validate", "--help"], ["next", "--help"], ["run", "--help"]])
    func everySubcommandHasHelp(_ arguments: [String]) throws {
        let outcome = try BatchdProcess.run(arguments)
        #expect(outcome.status == 0)
        #expect(outcome.stdout.contains("USAGE: batchd"))
        if arguments.count > 1 {
            #expect(outcome.stdout.contains("--config <file>"))
        }
    }
}
