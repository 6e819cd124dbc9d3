import FoundationEssentials
import Glibc

/// When a job fires on its own. Interval schedules count from the last successful run on a
/// monotonic clock; cron schedules follow the wall clock of their time zone.
public enum Schedule: Sendable, Hashable {
    case interval(Duration)
    case cron(ZonedCron)

    /// How `status`, `next` and the reload log describe the schedule.
    public var summary: String {
        switch self {
        case .interval(let period):
            return "every \(DurationText.format(period))"
        case .cron(let zoned):
            return "cron '\(zoned.expression.text)' (\(zoned.zoneName))"
        }
    }

    /// Fire times after `start`. An interval job with no successful run yet is due at `start`
    /// itself (as in the seed), then every period.
    public func fireTimes(after start: Date, lastSuccess: Date?, count: Int) -> [Date] {
        switch self {
        case .cron(let zoned):
            return zoned.nextFires(after: start, count: count)
        case .interval(let period):
            var next = lastSuccess.map { $0.addingTimeInterval(period.seconds) } ?? start
            if next < start { next = start }
            return (0..<count).map { next.addingTimeInterval(Double($0) * period.seconds) }
        }
    }
}
