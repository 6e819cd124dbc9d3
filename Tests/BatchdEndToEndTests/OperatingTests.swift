import BatchdCore
import Foundation
import Testing

/// What operators meet: JSON logs for collectors, output for terminals and pipes, the units
/// and manifests `batchd export` writes, the shipped deployment examples, `make install`.
@Suite("Operating batchd")
struct OperatingTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func jsonLogsHaveOneObjectALineAndEveryLineOfARunSaysWhichRun() throws {
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", """
        logFormat: text
        history: { fsync: false }
        jobs:
          chatty: { type: command, enabled: true, every: 1s, retry: { maxAttempts: 2, initialDelay: 1s }, shell: 'echo out; echo err >&2; exit 1' }
        """)
        let daemon = try DaemonProcess(folder: folder, arguments: ["--log-format", "json", "--log-level", "debug"])
        daemon.waitForLine("run recorded", "\"attempt\":\"2\"")
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
        let objects = try daemon.log.map { line in try #require(try? JSONParser.parse(line), "not JSON: \(line)") }
        #expect(objects.allSatisfy { $0["timestamp"]?.stringValue.flatMap(Timestamp.parse) != nil && $0["message"] != nil })
        let levels = Set(objects.compactMap { $0["level"]?.stringValue })
        #expect(levels.isSubset(of: ["debug", "info", "warn", "error"]) && levels.contains("warn"))
        let ofRuns = objects.filter { $0["run"] != nil }
        #expect(ofRuns.count >= 8)
        #expect(ofRuns.allSatisfy { $0["job"] == "chatty" && $0["attempt"] != nil }, "job, run and attempt on every line of a run")
        #expect(ofRuns.contains { $0["message"] == "err" && $0["level"] == "warn" && $0["stream"] == "stderr" })
        #expect(objects.contains { $0["message"] == "batchd 0.1.0 started" }, "--log-format json wins over logFormat: text in batch.yaml")
    }

    @Test func runsAndStatusColourOnlyATerminalWithoutNoColor() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "script(1) from util-linux gives the command a terminal")
        let daemon = try DaemonProcess(config: """
        history: { fsync: false }
        jobs:
          good: { type: command, enabled: true, every: 1h, shell: 'true' }
          broken: { type: command, enabled: true, every: 1h, retry: { maxAttempts: 1 }, shell: 'exit 2' }
        """)
        daemon.waitForLine("run recorded", "job=good")
        daemon.waitForLine("run recorded", "job=broken")
        daemon.waitForStatus(lastRuns: ["good": "completed", "broken": "failed"])
        let config = daemon.folder.url.appendingPathComponent("batch.yaml").path
        // The test runner may set NO_COLOR itself (swift test does when its output is not a
        // terminal): each command says what it has.
        func inTerminal(_ command: String, environment: String = "") throws -> String {
            let line = "env -u NO_COLOR \(environment) TERM=xterm \(BatchdProcess.binary.path) \(command) --config '\(config)'"
            return try BatchdProcess.runTool("/usr/bin/script", ["-qec", line, "/dev/null"]).stdout
        }
        let green = "\u{1B}[32mcompleted\u{1B}[0m", red = "\u{1B}[31mfailed\u{1B}[0m"
        let runs = try inTerminal("runs")
        #expect(runs.contains(green) && runs.contains(red), "a terminal gets colour: \(runs.debugDescription)")
        let status = try inTerminal("status")
        #expect(status.contains("\u{1B}[32mrunning\u{1B}[0m (pid") && status.contains("\u{1B}[32mcompleted "))
        for plain in [try inTerminal("runs", environment: "NO_COLOR=1"), try inTerminal("status", environment: "NO_COLOR=1"),
                      try daemon.cli("runs").stdout, try daemon.cli("status").stdout] {
            #expect(!plain.contains("\u{1B}["), "no escape codes with NO_COLOR or without a terminal: \(plain.debugDescription)")
        }
        // Columns line up, with and without colour.
        let table = try daemon.cli("runs").stdout.split(separator: "\n")
        let statusColumn = try #require(table.first?.range(of: "STATUS")?.lowerBound).utf16Offset(in: table[0])
        for row in table.dropFirst() {
            let cells = row.split(separator: " ", omittingEmptySubsequences: true)
            #expect(row.range(of: String(cells[2]))?.lowerBound.utf16Offset(in: row) == statusColumn)
        }
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }

    @Test func exportedSystemdUnitsPassSystemdAnalyze() throws {
        let analyze = "/usr/bin/systemd-analyze"
        try #require(FileManager.default.isExecutableFile(atPath: analyze), "systemd-analyze (Debian's systemd package)")
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", """
        stateDir: /var/lib/batchd
        jobs:
          backup: { type: command, enabled: true, cron: '0 3 * * *', timezone: Europe/Berlin, jitter: 5m, timeout: 2h, command: [/usr/bin/true] }
          either: { type: command, enabled: true, cron: '30 7 1,15 * mon-fri', command: [/usr/bin/true] }
          report: { type: command, enabled: true, after: [backup], command: [/usr/bin/true] }
          tick: { type: command, enabled: true, every: 15m, catchUp: false, shell: 'true' }
          off: { type: command, every: 1h, shell: 'true' }
        """)
        let units = folder.url.appendingPathComponent("units")
        let export = try BatchdProcess.run(["export", "systemd", "--config", folder.url.appendingPathComponent("batch.yaml").path,
                                            "--binary", BatchdProcess.binary.path, "--output", units.path])
        #expect(export.status == 0, "\(export.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: units.path).sorted()
        #expect(names == ["batchd-backup.service", "batchd-backup.timer", "batchd-either.service", "batchd-either.timer",
                          "batchd-report.service", "batchd-tick.service", "batchd-tick.timer"], "disabled jobs are left out")
        let verify = try BatchdProcess.runTool(analyze, ["verify", "--man=no"] + names.map { units.appendingPathComponent($0).path })
        #expect(verify.status == 0, "systemd-analyze: \(verify.stdout) \(verify.stderr)")
        // Parsed back: what each setting says.
        func settings(_ name: String) throws -> [String: [String]] {
            var found: [String: [String]] = [:]
            for line in try String(contentsOf: units.appendingPathComponent(name), encoding: .utf8).split(separator: "\n") {
                guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
                found[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
            }
            return found
        }
        let backupTimer = try settings("batchd-backup.timer"), backup = try settings("batchd-backup.service")
        #expect(backupTimer["OnCalendar"] == ["*-*-* 03:00:00 Europe/Berlin"] && backupTimer["Persistent"] == ["yes"])
        #expect(backupTimer["RandomizedDelaySec"] == ["300s"] && backupTimer["FixedRandomDelay"] == ["yes"])
        #expect(backup["ExecStart"] == ["\(BatchdProcess.binary.path) once backup --config \(folder.url.appendingPathComponent("batch.yaml").path) --log-format json"])
        #expect(backup["TimeoutStartSec"] == ["7200s"] && backup["OnSuccess"] == ["batchd-report.service"])
        #expect(try settings("batchd-either.timer")["OnCalendar"] == ["*-*-01,15 07:30:00", "Mon,Tue,Wed,Thu,Fri *-*-* 07:30:00"],
                "cron's either-day rule as two calendars")
        let tick = try settings("batchd-tick.timer")
        #expect(tick["OnUnitActiveSec"] == ["900s"] && tick["Persistent"] == nil)
        #expect(export.stderr.contains("report: no schedule; it starts when backup succeeds (OnSuccess=)"))
    }

    @Test func exportedKubernetesManifestsParseBack() throws {
        let folder = try TemporaryFolder()
        let yaml = """
        stateDir: /var/lib/batchd
        jobs:
          backup: { type: command, enabled: true, cron: '0 3 * * *', timezone: Europe/Berlin, timeout: 2h, retry: { maxAttempts: 3 }, command: [/usr/bin/true] }
          tick: { type: command, enabled: true, every: 15m, shell: 'true' }
          odd: { type: command, enabled: true, every: 7m, shell: 'true' }
          seconds: { type: command, enabled: true, cron: '30 * * * * *', shell: 'true' }
        """
        try folder.write("batch.yaml", yaml)
        let export = try BatchdProcess.run(["export", "kubernetes", "--config", folder.url.appendingPathComponent("batch.yaml").path,
                                            "--image", "ghcr.io/example/batchd:0.1.0", "--namespace", "ops"])
        #expect(export.status == 0, "\(export.stderr)")
        let documents = try export.stdout.components(separatedBy: "---\n").map { try Self.parseYAML($0) }
        #expect(documents.map { $0["kind"]?.stringValue } == ["ConfigMap", "PersistentVolumeClaim", "CronJob", "CronJob"])
        #expect(documents[0]["data"]?["batch.yaml"]?.stringValue == yaml + "\n", "the ConfigMap holds batch.yaml byte for byte")
        let backup = documents[2]
        #expect(backup["metadata"]?["name"] == "batchd-backup" && backup["metadata"]?["namespace"] == "ops")
        #expect(backup["spec"]?["schedule"] == "0 3 * * *" && backup["spec"]?["timeZone"] == "Europe/Berlin")
        #expect(backup["spec"]?["concurrencyPolicy"] == "Forbid")
        let job = try #require(backup["spec"]?["jobTemplate"]?["spec"])
        #expect(job["backoffLimit"] == "2" && job["activeDeadlineSeconds"] == "7200")
        let container = try #require(job["template"]?["spec"]?["containers"]?.arrayValue?.first)
        #expect(container["args"] == ["once", "backup", "--config", "/etc/batchd/batch.yaml", "--json", "--log-format", "json"])
        #expect(container["volumeMounts"]?.arrayValue?.last?["mountPath"] == "/var/lib/batchd")
        #expect(documents[3]["spec"]?["schedule"] == "*/15 * * * *")
        #expect(export.stderr.contains("odd: every 7m divides neither an hour nor a day"))
        #expect(export.stderr.contains("seconds: a cron expression with seconds (30 * * * * *) has no CronJob form"))
    }

    @Test func theDeploymentExamplesHoldTogether() throws {
        // The systemd unit of examples/, pointed at the built binary, passes systemd-analyze.
        let analyze = "/usr/bin/systemd-analyze"
        try #require(FileManager.default.isExecutableFile(atPath: analyze))
        let folder = try TemporaryFolder()
        let unit = try String(contentsOf: Self.root.appendingPathComponent("examples/systemd/batchd.service"), encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/batchd", with: BatchdProcess.binary.path)
        #expect(unit.contains("ExecReload=/bin/kill -HUP $MAINPID") && unit.contains("StateDirectory=batchd"))
        let copy = try folder.write("batchd.service", unit)
        let verify = try BatchdProcess.runTool(analyze, ["verify", "--man=no", copy.path])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        // The Kubernetes daemon: the config folder is mounted whole (a subPath never updates),
        // the probes ask /healthz on the port batch.yaml listens on.
        let manifests = try String(contentsOf: Self.root.appendingPathComponent("examples/kubernetes/batchd.yaml"), encoding: .utf8)
            .components(separatedBy: "---\n").map { try Self.parseYAML($0) }
        let deployment = try #require(manifests.first { $0["kind"] == "Deployment" })
        let pod = try #require(deployment["spec"]?["template"]?["spec"])
        let container = try #require(pod["containers"]?.arrayValue?.first)
        #expect(container["readinessProbe"]?["httpGet"]?["path"] == "/healthz")
        let mounts = container["volumeMounts"]?.arrayValue ?? []
        #expect(mounts.contains { $0["mountPath"] == "/etc/batchd" && $0["subPath"] == nil })
        let batch = try String(contentsOf: Self.root.appendingPathComponent("examples/kubernetes/batch.yaml"), encoding: .utf8)
        #expect(batch.contains("listen: 0.0.0.0:8080") && batch.contains("stateDir: /var/lib/batchd"))
        #expect(container["args"] == ["run", "--config", "/etc/batchd/batch.yaml", "--log-format", "json"])
        // The Dockerfile's entry point is a command line batchd accepts.
        let dockerfile = try String(contentsOf: Self.root.appendingPathComponent("examples/container/Dockerfile"), encoding: .utf8)
        #expect(dockerfile.contains(#"ENTRYPOINT ["/usr/local/bin/batchd", "run", "--config", "/etc/batchd/batch.yaml", "--log-format", "json"]"#))
        let help = try BatchdProcess.run(["run", "--config", "/etc/batchd/batch.yaml", "--log-format", "json", "--help"])
        #expect(help.status == 0)
    }

    /// One YAML document through the real libyaml, as plain JSON values (scalars as strings).
    static func parseYAML(_ text: String) throws -> JSONValue {
        let log = DiagnosticLog(file: "manifest")
        let node = try #require(YAMLParser(log: log).parse(Array(text.utf8)), "\(log.diagnostics)")
        func convert(_ node: YAMLNode) -> JSONValue {
            switch node.content {
            case .scalar(let text, _): return node.isNull ? .null : .string(text)
            case .sequence(let items): return .array(items.map(convert))
            case .mapping(let pairs): return .object(pairs.map { ($0.key.scalarText ?? "?", convert($0.value)) })
            }
        }
        return convert(node)
    }
}

@Suite("Shell completions")
struct CompletionTests {
    @Test func completionScriptsComeFromTheCommandLineDefinitions() throws {
        for shell in ["bash", "zsh", "fish"] {
            let script = try BatchdProcess.run(["--generate-completion-script", shell])
            #expect(script.status == 0)
            for word in ["export", "runs", "log-format", "kubernetes"] {
                #expect(script.stdout.contains(word), "\(shell) completes \(word)")
            }
            if shell == "bash" {
                let folder = try TemporaryFolder()
                let saved = try folder.write("batchd.bash", script.stdout)
                let check = try BatchdProcess.runTool("/bin/bash", ["-n", saved.path])
                #expect(check.status == 0, "bash parses it: \(check.stderr)")
            }
        }
    }
}
