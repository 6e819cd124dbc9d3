import FoundationEssentials
import Glibc
import Logging

/// Sends the notifications of recorded runs: the daemon follows the engine's finished runs
/// with it (`run`), `batchd once` calls `notify` after its run.
///
/// Deliveries go out concurrently and never hold up the engine; at shutdown `drain` waits for
/// those under way (each bounded by the webhook timeout and one retry).
public final class NotificationService: Sendable {
    private let history: any HistoryStore
    private let notifier: WebhookNotifier
    private let jobs: @Sendable (String) -> JobConfig?

    public init(history: any HistoryStore, notifier: WebhookNotifier, jobs: @escaping @Sendable (String) -> JobConfig?) {
        self.history = history
        self.notifier = notifier
        self.jobs = jobs
    }

    /// Sends what `record` calls for under its job's `notify:` (nothing when it has none).
    public func notify(_ record: RunRecord) async {
        guard let job = jobs(record.jobType), let settings = job.notify else { return }
        // The run before this one: this one is recorded already, so it is the second newest.
        let recent = (try? await history.newest(limit: 2, job: record.jobType, status: nil)) ?? []
        let previous = recent.first { $0.id != record.id && $0.id < record.id }?.status
        let retryFollows = [.failed, .timeout].contains(record.status) && record.attempt < job.retry.maxAttempts && job.enabled
        guard let notification = Notification(record: record, previous: previous, retryFollows: retryFollows, settings: settings) else { return }
        await notifier.send(notification, to: settings.webhook)
    }

    /// Follows `events` until cancelled, notifying for every finished run.
    public func run(_ events: AsyncStream<EngineEvent>) async {
        await withDiscardingTaskGroup { group in
            for await event in events {
                guard case .runFinished(let record) = event else { continue }
                group.addTask { await self.notify(record) }
            }
        }
    }
}
