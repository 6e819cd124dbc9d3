import BatchdCore
import BatchdTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// Which runs notify, what the webhook receives, and a webhook that fails: through real libcurl
/// against a server on 127.0.0.1.
@Suite("Notifications")
struct NotificationTests {
    let t0 = Timestamp.parse("2026-11-29T12:00:00.000Z")!

    func record(_ id: Int64, _ status: RunStatus, updated: Int = 0, attempt: Int = 1) -> RunRecord {
        RunRecord(id: id, jobType: "scan", displayName: "Docker Hub Scan", status: status, trigger: .schedule, attempt: attempt,
                  startedAt: t0.addingTimeInterval(Double(id)), completedAt: t0.addingTimeInterval(Double(id) + 2), itemsChecked: 3,
                  itemsUpdated: updated, error: status == .completed ? nil : "registry unreachable",
                  result: updated > 0 ? ["updates": [["image": "nginx:latest", "old": "sha256:a", "new": "sha256:b"]]] : [:])
    }

    @Test func eventsFollowTheRunTheOneBeforeAndWhetherARetryFollows() {
        let all = NotifySettings(webhook: "http://x", on: Set(NotifySettings.Event.allCases))
        func events(_ record: RunRecord, previous: RunStatus?, retry: Bool = false, on settings: NotifySettings? = nil) -> [String]? {
            Notification(record: record, previous: previous, retryFollows: retry, settings: settings ?? all)?.events.map(\.rawValue)
        }
        #expect(events(record(1, .failed), previous: .completed) == ["failure"])
        #expect(events(record(1, .failed), previous: .completed, retry: true) == nil, "a failure a retry may mend pages nobody")
        #expect(events(record(1, .timeout), previous: nil) == ["failure"])
        #expect(events(record(1, .interrupted), previous: .completed) == ["failure"])
        #expect(events(record(2, .completed), previous: .failed) == ["recovery", "success"])
        #expect(events(record(2, .completed, updated: 2), previous: .completed) == ["update", "success"])
        #expect(events(record(2, .completed), previous: nil) == ["success"], "a first success is no recovery")
        #expect(events(record(2, .cancelled), previous: .completed) == nil)
        let failuresOnly = NotifySettings(webhook: "http://x", on: [.failure])
        #expect(events(record(2, .completed), previous: .failed, on: failuresOnly) == nil)
        let recoveryOnly = NotifySettings(webhook: "http://x", on: [.recovery])
        #expect(Notification(record: record(2, .completed), previous: .timeout, retryFollows: false, settings: recoveryOnly)?.event == .recovery)
    }

    @Test func theWebhookGetsTheRunAsJSON() async throws {
        let server = try LoopbackHTTPServer { _ in .init(status: 204) }
        let notifier = WebhookNotifier(logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let run = record(7, .completed, updated: 1)
        let notification = try #require(Notification(record: run, previous: .failed, retryFollows: false,
                                                     settings: NotifySettings(webhook: "\(server.baseURL)/hook", on: [.update, .recovery])))
        #expect(await notifier.send(notification, to: "\(server.baseURL)/hook"))
        let request = try #require(server.requests.first)
        #expect(request.method == "POST" && request.path == "/hook" && request.header("Content-Type") == "application/json")
        #expect(try JSONParser.parse(request.body) == JSONParser.parse("""
        {"job":"scan","displayName":"Docker Hub Scan","event":"recovery","events":["recovery","update"],"runId":7,"status":"completed",
         "trigger":"schedule","attempt":1,"startedAt":"2026-11-29T12:00:07.000Z","completedAt":"2026-11-29T12:00:09.000Z","durationMs":2000,
         "itemsChecked":3,"itemsUpdated":1,"error":null,"updates":[{"image":"nginx:latest","old":"sha256:a","new":"sha256:b"}]}
        """))
    }

    @Test func aFailingWebhookIsRetriedOnceThenLoggedNeverThrown() async throws {
        let answers = Mutex([503, 200])
        let server = try LoopbackHTTPServer { _ in .init(status: answers.withLock { $0.isEmpty ? 500 : $0.removeFirst() }) }
        let log = CapturedLog(withMetadata: false)
        let notifier = WebhookNotifier(logger: log.logger(label: "test"), timeout: .seconds(1), retryDelay: .milliseconds(10))
        let notification = try #require(Notification(record: record(1, .failed), previous: nil, retryFollows: false,
                                                     settings: NotifySettings(webhook: "\(server.baseURL)/hook/T0KEN", on: [.failure])))
        #expect(await notifier.send(notification, to: "\(server.baseURL)/hook/T0KEN"), "a 503 is retried once")
        #expect(server.requests.count == 2)
        // Down for good: two tries, one warning that names where (never the path with its token).
        #expect(!(await notifier.send(notification, to: "\(server.baseURL)/hook/T0KEN")))
        #expect(server.requests.count == 4)
        let warning = try #require(log.lines.last)
        #expect(warning == "warning notify: the webhook at \(server.baseURL) answered 500; the failure notification is dropped (the run is recorded as it was)")
        // A 4xx is not retried; a server that never answers times out.
        let refusing = try LoopbackHTTPServer { _ in .init(status: 404) }
        #expect(!(await notifier.send(notification, to: "\(refusing.baseURL)/")))
        #expect(refusing.requests.count == 1)
        let silent = try LoopbackHTTPServer { _ in .init(status: 200, behaviour: .silence) }
        #expect(!(await notifier.send(notification, to: "\(silent.baseURL)/")))
        #expect(log.lines.last?.contains("no answer within 1s") == true)
    }

    @Test func theServiceLooksUpThePreviousRunInTheHistory() async throws {
        let folder = HistoryStoreTests.Folder()
        let history = try JSONLinesHistoryStore(stateDirectory: folder.path, settings: HistorySettings(fsync: false))
        let server = try LoopbackHTTPServer { _ in .init(status: 200) }
        let config = try ConfigLoader(registry: EngineHarness.registry).load(bytes: Array("""
        jobs:
          scan:
            type: scripted
            enabled: true
            retry: { maxAttempts: 2 }
            notify: { webhook: '\(server.baseURL)/n', on: [failure, recovery] }
        """.utf8), path: "batch.yaml").get()
        let service = NotificationService(history: history, notifier: WebhookNotifier(logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })) {
            config.job(named: $0)
        }
        for run in [record(1, .failed, attempt: 1), record(2, .failed, attempt: 2), record(3, .completed)] {
            try await history.append(run)
            await service.notify(run)
        }
        // Attempt 1 of 2 had a retry coming (the job is enabled); attempt 2 did not; run 3 recovered.
        #expect(server.requests.compactMap { try? JSONParser.parse($0.body)["event"]?.stringValue } == ["failure", "recovery"])
    }
}
