import BatchdCore
import BatchdTestKit
import Foundation
import Testing

/// `notify:` on the built binary: the daemon posts failure and recovery to a webhook on
/// 127.0.0.1, a webhook that is down costs a warning and nothing else, and `batchd once`
/// notifies before it exits.
@Suite("Notifications from the daemon and from once")
struct NotifyTests {
    @Test func failureThenRecoveryReachTheWebhookAndADeadWebhookIsOnlyAWarning() throws {
        let webhook = try LoopbackHTTPServer { _ in .init(status: 200) }
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", """
        history: { fsync: false }
        jobs:
          flaky:
            type: command
            enabled: true
            every: 1s
            retry: { maxAttempts: 1 }
            shell: 'test -f \(folder.url.path)/ok'
            notify: { webhook: '\(webhook.baseURL)/hooks/SECRETPATH', on: [failure, recovery] }
          unheard:
            type: command
            enabled: true
            runOnStart: true
            shell: 'true'
            notify: { webhook: 'http://127.0.0.1:1/hook', on: [success] }
        """)
        let daemon = try DaemonProcess(folder: folder)
        let failed = daemon.waitForLine("notified \(webhook.baseURL) (failure)", "job=flaky") ?? 0
        daemon.waitForLine("notify: the webhook at http://127.0.0.1:1 cannot connect or the connection failed; the success notification is dropped (the run is recorded as it was)",
                           "job=unheard")
        #expect(try daemon.records("unheard").first?["status"] as? String == "completed", "a dead webhook changes nothing about the run")
        try folder.write("ok", "")
        daemon.waitForLine("notified \(webhook.baseURL) (recovery)", "job=flaky", after: failed)
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)

        let events = webhook.requests.compactMap { try? JSONParser.parse($0.body) }
        #expect(events.first?["event"] == "failure" && events.first?["job"] == "flaky" && events.first?["status"] == "failed")
        #expect(events.contains { $0["event"] == "recovery" && $0["status"] == "completed" })
        #expect(events.filter { $0["event"] == "recovery" }.count == 1, "one recovery, then plain successes, which nobody asked for")
        #expect(!daemon.log.contains { $0.contains("SECRETPATH") }, "a webhook's path (its credential) is never logged")
    }

    @Test func onceNotifiesBeforeItExits() throws {
        let webhook = try LoopbackHTTPServer { _ in .init(status: 200) }
        let folder = try TemporaryFolder()
        try folder.write("batch.yaml", """
        jobs:
          report:
            type: command
            shell: 'echo "{\\"itemsChecked\\": 4, \\"itemsUpdated\\": 1}"'
            notify: { webhook: '\(webhook.baseURL)/', on: [update] }
        """)
        let once = try BatchdProcess.run(["once", "report", "--config", folder.url.appendingPathComponent("batch.yaml").path])
        #expect(once.status == 0, "\(once.stderr)")
        let sent = try #require(webhook.requests.first.flatMap { try? JSONParser.parse($0.body) })
        #expect(sent["event"] == "update" && sent["itemsUpdated"] == 1 && sent["trigger"] == "manual")
    }
}
