import BatchdCore
import BatchdTestKit
import Foundation
import Testing

/// Every endpoint of SPEC section 5 against the real listener, comparing whole JSON bodies in
/// the seed's shapes.
@Suite("HTTP API endpoints")
struct APIEndpointTests {
    static let yaml = """
    http: { listen: "127.0.0.1:0", tokenEnv: API_TOKEN }
    history: { fsync: false }
    jobs:
      hourly: { type: scripted, enabled: true, every: 1h, items: 3 }
      manual: { type: scripted, enabled: true, behaviour: hang }
      off: { type: scripted, displayName: Switched off }
    """

    let t0 = APIHarness.t0

    var earlier: [RunRecord] {
        [
            RunRecord(id: 1, jobType: "hourly", displayName: "hourly", status: .failed, trigger: .schedule, attempt: 1,
                      startedAt: t0.addingTimeInterval(-3600), completedAt: t0.addingTimeInterval(-3599), itemsChecked: 1,
                      error: "registry unreachable", logs: [LogEntry(timestamp: t0.addingTimeInterval(-3599), level: .error, message: "boom")]),
            RunRecord(id: 2, jobType: "hourly", displayName: "hourly", status: .completed, trigger: .schedule, attempt: 1,
                      startedAt: t0.addingTimeInterval(-1800), completedAt: t0.addingTimeInterval(-1799), itemsChecked: 3,
                      itemsUpdated: 1, result: ["updates": [["image": "nginx:latest"]]]),
        ]
    }

    func expect(_ answer: APIHarness.Answer, _ status: Int, _ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(answer.status == status, "body: \(answer.text)", sourceLocation: sourceLocation)
        #expect(answer.header("content-type") == "application/json; charset=utf-8", sourceLocation: sourceLocation)
        let expected = try JSONParser.parse(body)
        #expect(answer.json == expected, "got \(answer.text)", sourceLocation: sourceLocation)
    }

    func json(_ record: RunRecord) -> String {
        JSONWriter.string(record.json)
    }

    @Test func statusHasTheSeedsShapeWithNextRunTimesAndTheConfiguration() async throws {
        let api = try await APIHarness.start(Self.yaml, records: earlier)
        try expect(try await api.get("/api/batch/status"), 200, """
        {"success":true,"status":{
          "registeredJobs":["hourly","manual","off"],"runningJobs":[],
          "scheduler":{"isRunning":true,"isInitialized":true,"activeJobTimers":1,
            "lastRunTimes":{"hourly":"2026-11-29T11:30:00.000Z","manual":null,"off":null},
            "nextRunTimes":{"hourly":"2026-11-29T12:30:00.000Z","manual":null,"off":null}},
          "config":{"path":"batch.yaml","hash":"\(ConfigHash.of(api.bytes))","loadedAt":"2026-11-29T12:00:00.000Z","lastReload":null}}}
        """)
        await api.stop()
    }

    @Test func configShowsTheEffectiveSettingsOfEveryJob() async throws {
        let api = try await APIHarness.start(Self.yaml)
        let common = #""runOnStart":false,"catchUp":true,"jitter":"0s","timeout":"1h","retry":{"maxAttempts":3,"initialDelay":"1m","multiplier":2,"maxDelay":"1h"},"priority":0,"overlap":"forbid""#
        try expect(try await api.get("/api/batch/config"), 200, """
        {"success":true,"config":{
          "hourly":{"type":"scripted","displayName":"hourly","enabled":true,"intervalMinutes":60,"every":"1h",\(common)},
          "manual":{"type":"scripted","displayName":"manual","enabled":true,\(common)},
          "off":{"type":"scripted","displayName":"Switched off","enabled":false,\(common)}}}
        """)
        await api.stop()
    }

    @Test func runsAreNewestFirstAndFilteredThroughTheIndex() async throws {
        let api = try await APIHarness.start(Self.yaml, records: earlier)
        let (failed, completed) = (json(earlier[0]), json(earlier[1]))
        try expect(try await api.get("/api/batch/runs"), 200, #"{"success":true,"runs":[\#(completed),\#(failed)]}"#)
        try expect(try await api.get("/api/batch/runs?limit=1"), 200, #"{"success":true,"runs":[\#(completed)]}"#)
        try expect(try await api.get("/api/batch/runs?jobType=hourly&status=failed"), 200, #"{"success":true,"runs":[\#(failed)]}"#)
        try expect(try await api.get("/api/batch/runs?jobType=manual"), 200, #"{"success":true,"runs":[]}"#)
        try expect(try await api.get("/api/batch/runs/latest"), 200, #"{"success":true,"run":\#(completed)}"#)
        try expect(try await api.get("/api/batch/runs/latest?byJobType=true"), 200,
                   #"{"success":true,"runs":{"hourly":\#(completed),"manual":null,"off":null}}"#)
        try expect(try await api.get("/api/batch/runs/1"), 200, #"{"success":true,"run":\#(failed)}"#)
        try expect(try await api.get("/api/batch/runs/99"), 404, #"{"success":false,"error":"no run with id 99"}"#)
        await api.stop()
    }

    @Test func badParametersAreFourHundredsThatSayWhatIsWrong() async throws {
        let api = try await APIHarness.start(Self.yaml, records: earlier)
        let limit = #"{"success":false,"error":"limit must be a whole number from 1 to 1000 (got '"#
        try expect(try await api.get("/api/batch/runs?limit=0"), 400, limit + #"0')"}"#)
        try expect(try await api.get("/api/batch/runs?limit=1001"), 400, limit + #"1001')"}"#)
        try expect(try await api.get("/api/batch/runs?limit=ten"), 400, limit + #"ten')"}"#)
        try expect(try await api.get("/api/batch/runs?status=done"), 400,
                   #"{"success":false,"error":"status must be one of completed, failed, timeout, cancelled, interrupted (got 'done')"}"#)
        try expect(try await api.get("/api/batch/runs?jobType=..%2Fetc"), 400, #"{"success":false,"error":"jobType '../etc' is not a job name"}"#)
        try expect(try await api.get("/api/batch/runs?limit=%zz"), 400, #"{"success":false,"error":"the query has a malformed percent-escape"}"#)
        try expect(try await api.get("/api/batch/runs/latest?byJobType=yes"), 400, #"{"success":false,"error":"byJobType must be true or false (got 'yes')"}"#)
        try expect(try await api.get("/api/batch/runs/abc"), 400, #"{"success":false,"error":"a run id is a positive whole number (got 'abc')"}"#)
        try expect(try await api.get("/api/batch/runs/0"), 400, #"{"success":false,"error":"a run id is a positive whole number (got '0')"}"#)
        await api.stop()
    }

    @Test func unknownPathsAndWrongMethodsAreJSONErrors() async throws {
        let api = try await APIHarness.start(Self.yaml)
        try expect(try await api.get("/api/batch/nope"), 404, #"{"success":false,"error":"no such endpoint: GET /api/batch/nope; see GET /api/batch/status"}"#)
        let config = try await api.post("/api/batch/config", #"{"jobType":"hourly","enabled":false}"#)
        try expect(config, 405, #"{"success":false,"error":"the configuration is batch.yaml: edit the file and batchd reloads it (GET shows the running configuration)"}"#)
        #expect(config.header("allow") == "GET, HEAD")
        let delete = try await api.request("DELETE", "/api/batch/status")
        try expect(delete, 405, #"{"success":false,"error":"DELETE is not allowed here; use GET, HEAD"}"#)
        let getTrigger = try await api.get("/api/batch/trigger")
        try expect(getTrigger, 405, #"{"success":false,"error":"GET is not allowed here; use POST"}"#)
        #expect(getTrigger.header("allow") == "POST")
        // HEAD answers like GET, without the body.
        let head = try await api.request("HEAD", "/api/batch/status")
        #expect(head.status == 200 && head.text.isEmpty && Int(head.header("content-length") ?? "") ?? 0 > 100)
        await api.stop()
    }

    @Test func triggerAndCancelNeedTheRightToken() async throws {
        let api = try await APIHarness.start(Self.yaml)
        let body = #"{"jobType":"manual"}"#
        let missing = try await api.post("/api/batch/trigger", body, token: nil)
        try expect(missing, 401, #"{"success":false,"error":"missing or wrong token: send Authorization: Bearer <token>"}"#)
        #expect(missing.header("www-authenticate")?.hasPrefix("Bearer") == true)
        try expect(try await api.post("/api/batch/trigger", body, token: "s3cret-tokeN"), 401,
                   #"{"success":false,"error":"missing or wrong token: send Authorization: Bearer <token>"}"#)
        try expect(try await api.post("/api/batch/trigger", body, token: APIHarness.token + "x"), 401,
                   #"{"success":false,"error":"missing or wrong token: send Authorization: Bearer <token>"}"#)
        try expect(try await api.post("/api/batch/cancel", body, token: ""), 401,
                   #"{"success":false,"error":"missing or wrong token: send Authorization: Bearer <token>"}"#)
        #expect(!(await api.engine.runningJobs().contains("manual")), "a refused trigger starts nothing")

        try expect(try await api.post("/api/batch/trigger", body), 200,
                   #"{"success":true,"message":"Job manual triggered successfully (started). Check batch logs for execution details."}"#)
        await api.events.started("manual")
        try expect(try await api.post("/api/batch/trigger", body), 409, #"{"success":false,"error":"manual is already running"}"#)
        let running = try await api.get("/api/batch/status")
        #expect(running.json?["status"]?["runningJobs"] == ["manual"])
        try expect(try await api.post("/api/batch/cancel", body), 200, #"{"success":true,"message":"Job manual is being cancelled."}"#)
        let cancelled = try #require(await api.events.finished("manual"))
        #expect(cancelled.status == .cancelled)
        try expect(try await api.post("/api/batch/cancel", body), 409, #"{"success":false,"error":"manual is not running"}"#)
        // The status seen right after the run is recorded already has it.
        let latest = try await api.get("/api/batch/runs/latest")
        #expect(latest.json?["run"]?["id"]?.intValue == cancelled.id)

        try expect(try await api.post("/api/batch/trigger", #"{"jobType":"nightly"}"#), 404, #"{"success":false,"error":"unknown job 'nightly'"}"#)
        try expect(try await api.post("/api/batch/trigger", "jobType=manual"), 400,
                   #"{"success":false,"error":"the body must be a JSON object such as {\"jobType\": \"docker-hub-pull\"}"}"#)
        try expect(try await api.post("/api/batch/trigger", #"{"job":"manual"}"#), 400,
                   #"{"success":false,"error":"the body needs \"jobType\": the name of a job in batch.yaml"}"#)
        await api.stop()
    }

    @Test func withoutATokenVariableTheWriteEndpointsAreClosed() async throws {
        let api = try await APIHarness.start(Self.yaml, environment: [:])
        try expect(try await api.post("/api/batch/trigger", #"{"jobType":"manual"}"#), 401,
                   #"{"success":false,"error":"trigger over HTTP is disabled: set http.tokenEnv in batch.yaml to a variable holding a token (batchd trigger JOB works without it)"}"#)
        #expect(!(await api.engine.runningJobs().contains("manual")))
        await api.stop()
    }

    @Test func healthzAnswersWhileTheSchedulerRuns() async throws {
        let api = try await APIHarness.start(Self.yaml)
        try expect(try await api.get("/healthz"), 200, #"{"success":true,"status":"ok"}"#)
        await api.engine.shutdown(grace: .zero)
        try expect(try await api.get("/healthz"), 503, #"{"success":false,"error":"the scheduler is not running"}"#)
        await api.stop()
    }

    @Test func aTriggeredRunIsSeenInStatusAndMetricsAtOnce() async throws {
        let api = try await APIHarness.start(Self.yaml, records: earlier)
        _ = try await api.get("/api/batch/status")  // rendered and cached
        try expect(try await api.post("/api/batch/trigger", #"{"jobType":"hourly"}"#), 200,
                   #"{"success":true,"message":"Job hourly triggered successfully (started). Check batch logs for execution details."}"#)
        let run = try #require(await api.events.finished("hourly"))
        let status = try await api.get("/api/batch/status")
        #expect(status.json?["status"]?["scheduler"]?["lastRunTimes"]?["hourly"] == .string(Timestamp.iso8601(run.startedAt)))
        let metrics = try await api.get("/metrics")
        #expect(metrics.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(metrics.text.contains(#"batchd_job_runs_total{job="hourly",status="completed"} 1"#))
        #expect(metrics.text.contains(#"batchd_job_runs_total{job="manual",status="completed"} 0"#))
        #expect(metrics.text.contains(#"batchd_job_items_checked_total{job="hourly"} 3"#))
        #expect(metrics.text.contains(#"batchd_job_duration_seconds_count{job="hourly"} 1"#))
        #expect(metrics.text.contains(#"batchd_job_last_success_timestamp_seconds{job="hourly"} \#(run.startedAt.timeIntervalSince1970)"#))
        #expect(metrics.text.contains("batchd_config_last_reload_success 1"))
        await api.stop()
    }

    @Test func metricsPassPromtool() async throws {
        let promtool = "/usr/bin/promtool"
        try #require(FileManager.default.isExecutableFile(atPath: promtool), "promtool (Debian's prometheus package) is installed by scripts/install-deps --test")
        let api = try await APIHarness.start(Self.yaml, records: earlier)
        _ = try await api.post("/api/batch/trigger", #"{"jobType":"hourly"}"#)
        _ = await api.events.finished("hourly")
        let metrics = try await api.get("/metrics")
        let check = try Subprocess(promtool, ["check", "metrics"], stdin: .pipe, stdout: .pipe, stderr: .stdout)
        check.stdinWriter!.write(Data(metrics.text.utf8))
        try check.stdinWriter!.close()
        let said = String(decoding: check.stdoutReader!.readDataToEndOfFile(), as: UTF8.self)
        #expect(check.wait() == 0, "promtool: \(said)")
        #expect(said.isEmpty, "promtool has remarks: \(said)")
        for name in RunMetrics.Name.help.keys {
            #expect(metrics.text.contains("# HELP \(name) "), "\(name) is exposed with its help")
        }
        await api.stop()
    }
}
