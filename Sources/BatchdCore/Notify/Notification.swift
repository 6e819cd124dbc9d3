import FoundationEssentials
import Glibc

/// What a job's `notify.webhook` receives after a run: one JSON POST naming the event and the
/// run. Decided from the run, the run before it, and whether a retry follows.
public struct Notification: Sendable {
    public var event: NotifySettings.Event
    /// Every subscribed event the run matches (a success after failures is a recovery too).
    public var events: [NotifySettings.Event]
    public var record: RunRecord

    /// The notification for `record`, or nil when it matches no subscribed event.
    ///
    /// - failure: the run failed, timed out or was interrupted, and no retry follows (a blip a
    ///   retry mends pages nobody);
    /// - recovery: the first success after a run that was not one;
    /// - update: a success that found updates (`itemsUpdated > 0`);
    /// - success: any success.
    /// The most specific of them names the notification: failure, recovery, update, success.
    public init?(record: RunRecord, previous: RunStatus?, retryFollows: Bool, settings: NotifySettings) {
        var matched: [NotifySettings.Event] = []
        switch record.status {
        case .failed, .timeout, .interrupted:
            if !retryFollows { matched.append(.failure) }
        case .completed:
            if let previous, previous != .completed { matched.append(.recovery) }
            if record.itemsUpdated > 0 { matched.append(.update) }
            matched.append(.success)
        case .cancelled:
            break
        }
        let subscribed = matched.filter(settings.on.contains)
        guard let first = subscribed.first else { return nil }
        event = first
        events = subscribed
        self.record = record
    }

    public var json: JSONValue {
        .object([
            ("job", .string(record.jobType)),
            ("displayName", .string(record.displayName)),
            ("event", .string(event.rawValue)),
            ("events", .array(events.map { .string($0.rawValue) })),
            ("runId", .int(record.id)),
            ("status", .string(record.status.rawValue)),
            ("trigger", .string(record.trigger.rawValue)),
            ("attempt", .int(Int64(record.attempt))),
            ("startedAt", .string(Timestamp.iso8601(record.startedAt))),
            ("completedAt", .string(Timestamp.iso8601(record.completedAt))),
            ("durationMs", .int(record.durationMs)),
            ("itemsChecked", .int(Int64(record.itemsChecked))),
            ("itemsUpdated", .int(Int64(record.itemsUpdated))),
            ("error", record.error.map(JSONValue.string) ?? .null),
            ("updates", record.result["updates"] ?? .array([])),
        ])
    }
}
