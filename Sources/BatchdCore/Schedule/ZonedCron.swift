import FoundationEssentials
import Glibc

/// A cron expression read in a time zone: turns wall-clock matches into instants.
///
/// Daylight-saving rules (SPEC section 3): a wall-clock time that does not exist (the clocks
/// jumped over it) fires once, at the first instant after the jump; a wall-clock time that
/// happens twice (the clocks went back) fires once, at its first occurrence. Several skipped
/// times fold into that one instant, so an every-minute job fires once after a spring-forward
/// instead of sixty times.
public struct ZonedCron: Sendable, Hashable {
    public let expression: CronExpression
    public let timeZone: ZoneRules
    /// The zone as batch.yaml names it, or `local time, <zone>`.
    public let zoneName: String

    /// The job set no `timezone`: the machine's local time (whatever zone that is where it runs).
    public var isLocalTime: Bool { zoneName.hasPrefix("local time") }

    public init(expression: CronExpression, timeZone: ZoneRules, zoneName: String? = nil) {
        self.expression = expression
        self.timeZone = timeZone
        self.zoneName = zoneName ?? timeZone.identifier
    }

    /// The first fire time strictly after `date`, or nil when the expression never matches again.
    public func nextFire(after date: Date) -> Date? {
        let after = Int(date.timeIntervalSince1970.rounded(.down))
        // Every wall-clock time that maps to an instant after `after` lies after `after` plus the
        // smallest UTC offset in force around it; starting there skips nothing.
        let lowestOffset = min(offset(at: after), offset(at: after + 2 * 86_400))
        var candidate = expression.nextMatch(atOrAfter: after + lowestOffset + 1)
        while let local = candidate {
            let instant = self.instant(forLocal: local)
            if instant > after {
                return Date(timeIntervalSince1970: TimeInterval(instant))
            }
            candidate = expression.nextMatch(atOrAfter: local + 1)
        }
        return nil
    }

    /// The next `count` fire times after `date`.
    public func nextFires(after date: Date, count: Int) -> [Date] {
        var result: [Date] = []
        var cursor = date
        while result.count < count, let next = nextFire(after: cursor) {
            result.append(next)
            cursor = next
        }
        return result
    }

    private func offset(at instant: Int) -> Int {
        timeZone.secondsFromGMT(at: instant)
    }

    /// The instant a wall-clock time (seconds since 1970-01-01, local) stands for in this zone.
    func instant(forLocal local: Int) -> Int {
        let before = offset(at: local - 86_400), after = offset(at: local + 86_400)
        let valid = Set([before, after]).map { local - $0 }.filter { offset(at: $0) == local - $0 }
        if let first = valid.min() {
            return first  // the first of a repeated time, or the only one
        }
        // In a gap: find the transition, the first instant whose wall-clock time is past `local`.
        var low = local - max(before, after), high = local - min(before, after)
        while low < high {
            let middle = floorDivide(low + high, 2)
            if middle + offset(at: middle) >= local { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
