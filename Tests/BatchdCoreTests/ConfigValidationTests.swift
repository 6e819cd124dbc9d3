import BatchdCore
import BatchdHandlers
import Foundation
import Testing

@Suite("batch.yaml validation: every error class, with its line and column")
struct ConfigValidationTests {
    @Test func aMinimalFileIsValid() throws {
        let config = try load("""
        jobs:
          hello:
            type: command
            enabled: true
            every: 10s
            command: [echo, hi]
        """).get()
        #expect(config.jobs.count == 1)
        let job = try #require(config.job(named: "hello"))
        #expect(job.enabled)
        #expect(job.schedule == .interval(.seconds(10)))
        #expect(job.retry == .standard)
        #expect(job.timeout == .seconds(3600))
        #expect(config.maxConcurrentJobs == 4)
        #expect(config.stateDirectory.hasSuffix("/.batchd"))
    }

    @Test func yamlSyntaxErrorsCarryLibyamlsPosition() {
        #expect(errors("jobs:\n  a: [1, 2\n  b: 3\n") == [
            "batch.yaml:3:4: error: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 2, column 6)",
        ])
        #expect(errors("jobs:\n\ta: 1\n") == [
            "batch.yaml:2:1: error: YAML syntax error: found character that cannot start any token (while scanning for the next token at line 2, column 1)",
        ])
    }

    @Test func wrongTypes() {
        #expect(errors("""
        maxConcurrentJobs: many
        history:
          fsync: sometimes
        jobs:
          x:
            type: command
            command: { a: b }
        """) == [
            "batch.yaml:1:20: error: maxConcurrentJobs: expected an integer, got a string",
            "batch.yaml:3:10: error: history.fsync: expected true or false, got a string",
            "batch.yaml:7:14: error: jobs.x.command: expected a list, got a mapping",
        ])
    }

    @Test func valuesOutOfRange() {
        #expect(errors("""
        maxConcurrentJobs: 0
        jobs:
          docker-hub-pull:
            intervalMinutes: 1441
            images: [nginx]
          b:
            type: command
            every: 500ms
            shell: "true"
        """) == [
            "batch.yaml:1:20: error: maxConcurrentJobs: must be between 1 and 1024 (got 0)",
            "batch.yaml:4:22: error: jobs.docker-hub-pull.intervalMinutes: must be between 1 and 1440 (got 1441)",
            "batch.yaml:8:12: error: jobs.b.every: must be at least 1s (got 500ms)",
        ])
    }

    @Test func durationsNeedUnits() {
        #expect(errors("shutdownGrace: 30\njobs: {}\n") == [
            "batch.yaml:1:16: error: shutdownGrace: a duration needs a unit: write 30s, 30m or 30h",
        ])
        #expect(errors("shutdownGrace: 1x\njobs: {}\n") == [
            "batch.yaml:1:16: error: shutdownGrace: '1x' is not a duration; write e.g. 500ms, 90s, 5m, 1h30m or 2d",
        ])
    }

    @Test func unknownKeysSuggestTheClosestKnownKey() {
        #expect(errors("""
        maxConcurentJobs: 4
        jobs:
          a:
            type: command
            shell: "true"
            intervalMinute: 5
            retry: { maxAttempt: 2 }
            frobnicate: 1
        """) == [
            "batch.yaml:1:1: error: maxConcurentJobs: unknown key 'maxConcurentJobs' (did you mean 'maxConcurrentJobs'?)",
            "batch.yaml:6:5: error: jobs.a.intervalMinute: unknown key 'intervalMinute' (did you mean 'intervalMinutes'?)",
            "batch.yaml:7:14: error: jobs.a.retry.maxAttempt: unknown key 'maxAttempt' (did you mean 'maxAttempts'?)",
            "batch.yaml:8:5: error: jobs.a.frobnicate: unknown key 'frobnicate'",
        ])
    }

    @Test func unknownJobTypesAndMissingTypes() {
        #expect(errors("""
        jobs:
          backup:
            type: comand
          nightly:
            shell: "true"
        """) == [
            "batch.yaml:3:11: error: jobs.backup.type: unknown job type 'comand' (did you mean 'command'?); built-in types: command, docker-hub-pull, http, noop, tracked-apps-check",
            "batch.yaml:4:3: error: jobs.nightly: no 'type:' and 'nightly' is not a built-in type; add e.g. 'type: command' (types: command, docker-hub-pull, http, noop, tracked-apps-check)",
        ])
    }

    @Test func atMostOneSchedule() {
        #expect(errors("""
        jobs:
          a:
            type: command
            shell: "true"
            every: 10s
            cron: "* * * * *"
        """) == [
            "batch.yaml:6:11: error: jobs.a.cron: a job has at most one schedule: intervalMinutes, every or cron (found every and cron)",
        ])
    }

    @Test func aJobsOwnScheduleReplacesTheDefaultOne() throws {
        let config = try load("""
        defaults: { intervalMinutes: 60 }
        jobs:
          a: { type: command, shell: "true", cron: "0 3 * * *", timezone: UTC }
          b: { type: command, shell: "true" }
        """).get()
        #expect(config.job(named: "a")?.schedule?.summary == "cron '0 3 * * *' (UTC)")
        #expect(config.job(named: "b")?.schedule == .interval(.seconds(3600)))
    }

    @Test func afterNamingUnknownJobsAndCycles() {
        #expect(errors("""
        jobs:
          a: { type: command, shell: "true", after: [b] }
          b: { type: command, shell: "true", after: [c, deploi] }
          c: { type: command, shell: "true", after: [a] }
          deploy: { type: command, shell: "true", after: deploy }
        """) == [
            "batch.yaml:2:46: error: jobs.a.after: 'after' forms a cycle: a -> b -> c -> a",
            "batch.yaml:3:49: error: jobs.b.after: 'after' names unknown job 'deploi' (did you mean 'deploy'?)",
            "batch.yaml:5:50: error: jobs.deploy.after: 'after' forms a cycle: deploy -> deploy",
        ])
    }

    @Test func invalidCronExpressionsPointIntoTheExpression() {
        #expect(errors("""
        jobs:
          a: { type: command, shell: "true", cron: "0 25 * * *" }
          b:
            type: command
            shell: "true"
            cron: 0 0 * * MON-FRI/x
          c: { type: command, shell: "true", cron: "@reboot" }
          d: { type: command, shell: "true", cron: "* * *" }
        """) == [
            "batch.yaml:2:47: error: jobs.a.cron: invalid cron expression: hour field: 25 is out of range 0-23",
            "batch.yaml:6:19: error: jobs.b.cron: invalid cron expression: day-of-week field: step 'x' must be a whole number from 1 to 7",
            "batch.yaml:7:45: error: jobs.c.cron: invalid cron expression: @reboot is not a schedule in batchd; use runOnStart: true",
            "batch.yaml:8:45: error: jobs.d.cron: invalid cron expression: expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got 3",
        ])
    }

    @Test func unknownTimeZones() {
        #expect(errors("""
        jobs:
          a: { type: command, shell: "true", cron: "0 3 * * *", timezone: Europe/Berln }
          b: { type: command, shell: "true", every: 1h, timezone: UTC }
        """) == [
            "batch.yaml:2:67: error: jobs.a.timezone: unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?); use an IANA name such as Europe/Berlin or UTC",
            "batch.yaml:3:59: error: jobs.b.timezone: 'timezone' only applies to a 'cron' schedule, not to 'every'",
        ])
    }

    @Test func secretsWrittenInline() {
        #expect(errors("""
        http: { listen: "127.0.0.1:8080", token: abc }
        jobs:
          docker-hub-pull:
            images: [nginx]
            password: hunter2
            usernameEnv: REGISTRY_USER
            passwordEnv: "hunter2!"
          ping:
            type: http
            url: https://example.com/ping
            headers: { Authorization: "Bearer abc" }
        """) == [
            "batch.yaml:1:35: error: http.token: secrets are never written in batch.yaml; name an environment variable or a file with 'tokenEnv'",
            "batch.yaml:5:5: error: jobs.docker-hub-pull.password: secrets are never written in batch.yaml; name an environment variable or a file with 'passwordEnv'",
            "batch.yaml:7:18: error: jobs.docker-hub-pull.passwordEnv: expected the name of an environment variable (letters, digits and _), not a value; the secret goes in the environment, never in batch.yaml",
            "batch.yaml:11:16: error: jobs.ping.headers.Authorization: 'Authorization' carries a credential: secrets are never written in batch.yaml; use headersEnv: { Authorization: VARIABLE }",
        ])
    }

    @Test func duplicateKeys() {
        #expect(errors("""
        jobs:
          a: { type: command, shell: "true" }
          a: { type: command, shell: "false" }
        stateDir: x
        stateDir: y
        """) == [
            "batch.yaml:3:3: error: duplicate key 'a' (first at line 2)",
            "batch.yaml:5:1: error: duplicate key 'stateDir' (first at line 4)",
        ])
    }

    @Test func severalErrorsAreReportedTogetherInFileOrder() {
        let found = errors("""
        maxConcurrentJobs: -1
        jobs:
          docker-hub-pull:
            enabled: yes
            intervalMinutes: 0
            images: [nginx:latest, "Bad Image"]
        """)
        #expect(found == [
            "batch.yaml:1:20: error: maxConcurrentJobs: must be between 1 and 1024 (got -1)",
            "batch.yaml:4:14: error: jobs.docker-hub-pull.enabled: expected true or false, got 'yes' (write true)",
            "batch.yaml:5:22: error: jobs.docker-hub-pull.intervalMinutes: must be between 1 and 1440 (got 0)",
            "batch.yaml:6:28: error: jobs.docker-hub-pull.images[1]: 'Bad Image' is not an image reference; expected e.g. nginx:latest, grafana/grafana:11 or ghcr.io/owner/app:main (lowercase names)",
        ])
    }

    @Test func problemsInDefaultsAreReportedOnceAtTheirOwnPlace() {
        #expect(errors("""
        defaults:
          timeout: forever
          images: [nginx]
          colour: blue
        jobs:
          a: { type: command, shell: "true" }
          b: { type: command, shell: "true" }
        """) == [
            "batch.yaml:2:12: error: defaults.timeout: 'forever' is not a duration; write e.g. 500ms, 90s, 5m, 1h30m or 2d",
            "batch.yaml:4:3: error: defaults.colour: unknown key 'colour'",
        ])
    }

    @Test func defaultsMergeIntoJobsKeyByKey() throws {
        let config = try load("""
        defaults:
          timeout: 5m
          retry: { maxAttempts: 5, initialDelay: 10s }
          env: { LANG: C }
        jobs:
          a:
            type: command
            shell: "true"
            retry: { initialDelay: 30s }
            env: { TZ: UTC }
          b:
            type: command
            shell: "true"
            timeout: 1m
        """).get()
        let a = try #require(config.job(named: "a"))
        #expect(a.timeout == .seconds(300))
        #expect(a.retry.maxAttempts == 5)
        #expect(a.retry.initialDelay == .seconds(30))
        let handler = try #require(a.handler as? CommandJob)
        #expect(handler.environment.map(\.name) == ["TZ", "LANG"])
        #expect(config.job(named: "b")?.timeout == .seconds(60))
    }

    @Test func emptyAndNonMappingFiles() {
        #expect(errors("") == ["batch.yaml:1:1: error: the file is empty; it needs at least a 'jobs:' mapping"])
        #expect(errors("- a\n- b\n") == ["batch.yaml:1:1: error: the top level must be a mapping with a 'jobs:' key, not a list"])
        #expect(errors("stateDir: x\n") == ["batch.yaml:1:1: error: missing required key 'jobs' (a mapping from job names to their settings)"])
        #expect(errors("a: 1\n---\nb: 2\n") == ["batch.yaml:2:1: error: the file holds more than one YAML document; batchd reads exactly one"])
    }

    @Test func jobNamesMustBeSafeFileNames() {
        #expect(errors("jobs:\n  ../etc: { type: command, shell: 'true' }\n") == [
            "batch.yaml:2:3: error: jobs.../etc: job names are 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit (they name files)",
        ])
    }

    @Test func commandJobsNeedACommand() {
        #expect(errors("jobs:\n  a: { type: command }\n  b: { type: command, command: [], shell: x }\n") == [
            "batch.yaml:2:3: error: jobs.a: a command job needs 'command: [program, args...]' or 'shell: \"...\"'",
            "batch.yaml:3:43: error: jobs.b.shell: set either 'command' (a list, no shell) or 'shell' (a /bin/sh line), not both",
        ])
    }

    @Test func trackedAppsNeedExactlyOneSource() {
        #expect(errors("""
        jobs:
          tracked-apps-check:
            apps:
              - { name: a, current: 1.0.0 }
              - { name: b, github: x/y, gitlab: g/p, current: 1 }
              - { name: c, github: nope, current: 1 }
        """) == [
            "batch.yaml:4:9: error: jobs.tracked-apps-check.apps[0]: an app needs a source: 'github: owner/repo', 'gitlab: group/project' or 'image: namespace/repo'",
            "batch.yaml:5:41: error: jobs.tracked-apps-check.apps[1].gitlab: an app has exactly one source: github, gitlab or image",
            "batch.yaml:6:28: error: jobs.tracked-apps-check.apps[2].github: expected owner/repository (got 'nope')",
        ])
    }

    @Test func yamlAnchorsAliasesAndMergeKeysWork() throws {
        let config = try load("""
        jobs:
          base: &common { type: command, enabled: false, every: 1m, shell: "true" }
          a: { <<: *common, enabled: true }
          b:
            <<: *common
            every: 2m
            shell: "echo b"
        """).get()
        #expect(config.job(named: "a")?.enabled == true)
        #expect(config.job(named: "a")?.schedule == .interval(.seconds(60)))
        #expect(config.job(named: "b")?.schedule == .interval(.seconds(120)))
        #expect((config.job(named: "b")?.handler as? CommandJob)?.invocation == .shell("echo b"))
    }

    @Test func aliasBombsAndDeepNestingAreRefused() {
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            bomb += "a\(level): &a\(level) [\(refs)]\n"
        }
        let bombErrors = errors(bomb + "jobs: {}\n")
        #expect(bombErrors.count == 1)
        #expect(bombErrors.first?.contains("expands to more than 200000 nodes") == true)

        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(errors("jobs: \(deep)\n") == ["batch.yaml:1:70: error: nesting deeper than 64 levels"])
    }

    @Test func tenThousandJobsAreAFileLikeAnyOther() throws {
        // The node cap is for aliases that repeat large parts, not for long files.
        let jobs = (0..<10_000).map { "  job\($0): { type: command, enabled: true, cron: '17 * * * *', command: [true] }\n" }.joined()
        let config = try load("jobs:\n" + jobs).get()
        #expect(config.jobs.count == 10_000 && config.job(named: "job9999")?.schedule != nil)
        #expect(errors("jobs:\n" + jobs + "  job17: { type: command, command: [true] }\n").first?.contains("duplicate key 'job17' (first at line 19)") == true)
    }

    @Test func httpListenAddresses() throws {
        let http = try #require(try load("http: { listen: '[::1]:9000', tokenEnv: BATCHD_TOKEN }\njobs: {}\n").get().http)
        #expect(http.host == "::1" && http.port == 9000 && http.tokenEnv == "BATCHD_TOKEN")
        #expect(http.maxConnections == 512 && http.requestTimeout == .seconds(10) && http.idleTimeout == .seconds(60))
        for bare in ["9180", "':9180'"] {
            let loopback = try #require(try load("http: { listen: \(bare) }\njobs: {}\n").get().http)
            #expect(loopback.host == "127.0.0.1" && loopback.port == 9180 && loopback.isLoopback, "a port alone binds to loopback")
        }
        let tuned = try #require(try load("http: { listen: 0.0.0.0:80, maxConnections: 64, requestTimeout: 2s, idleTimeout: 500ms }\njobs: {}\n").get().http)
        #expect(!tuned.isLoopback && tuned.maxConnections == 64 && tuned.requestTimeout == .seconds(2) && tuned.idleTimeout == .milliseconds(500))
        #expect(errors("http: { listen: localhost }\njobs: {}\n") == [
            "batch.yaml:1:17: error: http.listen: expected host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080, [::1]:8080 or 8080 for loopback (got 'localhost')",
        ])
        #expect(errors("http: { listen: 70000, maxConnections: 0, requestTimeout: 10ms, idleTimout: 1s }\njobs: {}\n") == [
            "batch.yaml:1:17: error: http.listen: expected host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080, [::1]:8080 or 8080 for loopback (got '70000')",
            "batch.yaml:1:40: error: http.maxConnections: must be between 1 and 100000 (got 0)",
            "batch.yaml:1:59: error: http.requestTimeout: must be at least 100ms (got 10ms)",
            "batch.yaml:1:65: error: http.idleTimout: unknown key 'idleTimout' (did you mean 'idleTimeout'?)",
        ])
    }

    @Test func theShippedFileAndEveryExampleAreValid() throws {
        let files = ["batch.yaml", "examples/kubernetes/batch.yaml"] + (try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("examples").path))
            .filter { $0.hasSuffix(".yaml") }.map { "examples/\($0)" }
        #expect(files.count >= 4)
        for file in files {
            let outcome = ConfigLoader(registry: BuiltInJobTypes.registry).load(path: packageRoot.appendingPathComponent(file).path)
            guard case .valid = outcome else {
                Issue.record("\(file) is not valid: \(outcome)")
                continue
            }
        }
    }
}
