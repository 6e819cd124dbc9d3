import FoundationEssentials
import Glibc
import Logging

/// Sends notifications to webhooks: a JSON POST with a timeout, and one retry a second later
/// when the first try gets no answer, a 5xx or a 429. A notification that cannot be delivered
/// is logged; it never changes the run, which is recorded before any notification goes out.
public struct WebhookNotifier: Sendable {
    public var timeout: Duration
    public var retryDelay: Duration
    let logger: Logger

    public init(logger: Logger, timeout: Duration = .seconds(10), retryDelay: Duration = .seconds(1)) {
        self.logger = logger
        self.timeout = timeout
        self.retryDelay = retryDelay
    }

    /// Delivers `notification`; true when the webhook accepted it (2xx).
    @discardableResult
    public func send(_ notification: Notification, to webhook: String) async -> Bool {
        var body: [UInt8] = []
        JSONWriter.write(notification.json, to: &body)
        let request = HTTPRequest(method: "POST", url: webhook, headers: [("Content-Type", "application/json")], body: body, timeout: timeout)
        let target = JobConfig.origin(of: webhook)  // a webhook's path often holds its credential
        let metadata: Logger.Metadata = ["job": "\(notification.record.jobType)", "run": "\(notification.record.id)",
                                         "attempt": "\(notification.record.attempt)"]
        var problem = ""
        for attempt in 1...2 {
            if attempt == 2 {
                guard (try? await Task.sleep(for: retryDelay)) != nil else { break }
            }
            do {
                let response = try await HTTPClient.perform(request)
                if (200...299).contains(response.status) {
                    logger.info("notified \(target) (\(notification.event.rawValue))", metadata: metadata)
                    return true
                }
                problem = "answered \(response.status)"
                guard response.status >= 500 || response.status == 429 else { break }  // a 4xx will not change on a retry
            } catch {
                problem = error.kind == .timeout ? "no answer within \(DurationText.format(timeout))" : "\(error.kind == .cancelled ? "cancelled" : "cannot connect or the connection failed")"
                if error.kind == .cancelled { break }
            }
        }
        logger.warning("notify: the webhook at \(target) \(problem); the \(notification.event.rawValue) notification is dropped (the run is recorded as it was)",
                       metadata: metadata)
        return false
    }
}
