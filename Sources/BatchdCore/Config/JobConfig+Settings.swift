import FoundationEssentials
import Glibc

extension JobConfig {
    /// The job's effective settings (defaults applied), as `GET /api/batch/config` shows them:
    /// the seed's `enabled` and `intervalMinutes`, then everything else batchd adds.
    public var effectiveSettings: JSONValue {
        var fields: [(String, JSONValue)] = [("type", .string(type)), ("displayName", .string(displayName)), ("enabled", .bool(enabled))]
        switch schedule {
        case .interval(let period)?:
            if period.milliseconds % 60_000 == 0 { fields.append(("intervalMinutes", .int(period.milliseconds / 60_000))) }
            fields.append(("every", .string(DurationText.format(period))))
        case .cron(let zoned)?:
            fields += [("cron", .string(zoned.expression.text)), ("timezone", .string(zoned.zoneName))]
        case nil:
            break
        }
        if !after.isEmpty { fields.append(("after", .array(after.map(JSONValue.string)))) }
        fields += [
            ("runOnStart", .bool(runOnStart)), ("catchUp", .bool(catchUp)), ("jitter", .string(DurationText.format(jitter))),
            ("timeout", .string(DurationText.format(timeout))),
            ("retry", .object([
                ("maxAttempts", .int(Int64(retry.maxAttempts))), ("initialDelay", .string(DurationText.format(retry.initialDelay))),
                ("multiplier", .double(retry.multiplier)), ("maxDelay", .string(DurationText.format(retry.maxDelay))),
            ])),
            ("priority", .int(Int64(priority))), ("overlap", .string(overlap.rawValue)),
        ]
        if let notify {
            // A webhook URL often carries its credential in the path (Slack, Discord): only
            // where it goes is shown.
            fields.append(("notify", .object([
                ("webhook", .string(Self.origin(of: notify.webhook))),
                ("on", .array(NotifySettings.Event.allCases.filter(notify.on.contains).map { .string($0.rawValue) })),
            ])))
        }
        fields += handler.publicSettings
        return .object(fields)
    }

    /// `https://hooks.example.com/services/T0/B0/XXXX` → `https://hooks.example.com`.
    static func origin(of url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return "(set)" }
        return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")"
    }
}
