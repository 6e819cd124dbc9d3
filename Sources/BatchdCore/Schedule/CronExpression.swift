/// A parsed cron expression: five fields (minute hour day-of-month month day-of-week), six with
/// seconds first, or a descriptor such as `@daily`. Matching is on wall-clock fields only; time
/// zones are `ZonedCron`'s concern.
///
/// Day matching follows Vixie cron, which every cron user has learnt: when both day fields are
/// restricted (neither starts with `*`), a day matches if either does; otherwise both must.
public struct CronExpression: Sendable, Hashable {
    public let text: String
    let seconds: FieldSet
    let minutes: FieldSet
    let hours: FieldSet
    let daysOfMonth: FieldSet
    let months: FieldSet
    let daysOfWeek: FieldSet
    let dayFieldsEitherMatch: Bool

    /// Why an expression was refused, and where in the text (0-based character offset).
    public struct SyntaxError: Error, Sendable, Equatable {
        public var message: String
        public var offset: Int

        public init(message: String, offset: Int) {
            self.message = message
            self.offset = offset
        }
    }

    static let descriptors: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    public init(parsing text: String) throws(SyntaxError) {
        self.text = text
        var source = text
        if text.hasPrefix("@") {
            let word = text.trimmingCharacters(in: " ").lowercased()
            if word == "@reboot" {
                throw SyntaxError(message: "@reboot is not a schedule in batchd; use runOnStart: true", offset: 0)
            }
            guard let expansion = Self.descriptors[word] else {
                let hint = Suggestion.hint(for: word, among: Self.descriptors.keys.sorted())
                throw SyntaxError(message: "unknown descriptor '\(word)'\(hint)", offset: 0)
            }
            source = expansion
        }
        var fields = Self.split(source)
        if text.hasPrefix("@") { fields = fields.map { ($0.text, 0) } }
        switch fields.count {
        case 5: fields.insert(("0", 0), at: 0)
        case 6: break
        default:
            throw SyntaxError(message: "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got \(fields.count)", offset: 0)
        }
        seconds = try FieldSet.parse(fields[0].text, offset: fields[0].offset, kind: .second)
        minutes = try FieldSet.parse(fields[1].text, offset: fields[1].offset, kind: .minute)
        hours = try FieldSet.parse(fields[2].text, offset: fields[2].offset, kind: .hour)
        daysOfMonth = try FieldSet.parse(fields[3].text, offset: fields[3].offset, kind: .dayOfMonth)
        months = try FieldSet.parse(fields[4].text, offset: fields[4].offset, kind: .month)
        daysOfWeek = try FieldSet.parse(fields[5].text, offset: fields[5].offset, kind: .dayOfWeek)
        let starred = { (field: String) in field.hasPrefix("*") || field.hasPrefix("?") }
        dayFieldsEitherMatch = !starred(fields[3].text) && !starred(fields[5].text)
    }

    public enum Field: Sendable, CaseIterable {
        case second, minute, hour, dayOfMonth, month, dayOfWeek
    }

    /// The values a field matches, in order; nil when it matches every value (`*`). Day of
    /// week counts Sunday as 0. For exporting schedules to other schedulers (systemd timers).
    public func values(_ field: Field) -> [Int]? {
        let (set, range): (FieldSet, ClosedRange<Int>) = switch field {
        case .second: (seconds, 0...59)
        case .minute: (minutes, 0...59)
        case .hour: (hours, 0...23)
        case .dayOfMonth: (daysOfMonth, 1...31)
        case .month: (months, 1...12)
        case .dayOfWeek: (daysOfWeek, 0...6)
        }
        let values = range.filter(set.contains)
        return values.count == range.count ? nil : values
    }

    /// Both day fields are restricted, so a day matches when either does (Vixie cron's rule).
    public var daysMatchEither: Bool { dayFieldsEitherMatch }

    private static func split(_ text: String) -> [(text: String, offset: Int)] {
        var fields: [(String, Int)] = []
        var current = "", start = 0
        for (index, character) in text.enumerated() {
            if character == " " || character == "\t" {
                if !current.isEmpty { fields.append((current, start)) }
                current = ""
            } else {
                if current.isEmpty { start = index }
                current.append(character)
            }
        }
        if !current.isEmpty { fields.append((current, start)) }
        return fields
    }

    func matchesDay(_ date: CivilDate) -> Bool {
        let byMonthDay = daysOfMonth.contains(date.day)
        let byWeekday = daysOfWeek.contains(date.weekday)
        return dayFieldsEitherMatch ? (byMonthDay || byWeekday) : (byMonthDay && byWeekday)
    }

    /// How far ahead `nextMatch` looks: long enough for February 29th on a given weekday pattern
    /// to come round, short enough that an impossible expression is found out at once.
    static let searchHorizonDays = 366 * 8

    /// The first wall-clock second at or after `start` (seconds since 1970-01-01 of local time)
    /// that matches every field, or nil when none does within the search horizon.
    public func nextMatch(atOrAfter start: Int) -> Int? {
        var dayNumber = floorDivide(start, 86_400)
        var secondOfDay = start - dayNumber * 86_400
        let lastDay = dayNumber + Self.searchHorizonDays
        while dayNumber <= lastDay {
            let date = CivilDate(dayNumber: dayNumber)
            if !months.contains(date.month) {
                // Jump to the first day of the next month.
                let next = date.month == 12
                    ? CivilDate(year: date.year + 1, month: 1, day: 1)
                    : CivilDate(year: date.year, month: date.month + 1, day: 1)
                dayNumber = next.dayNumber
                secondOfDay = 0
                continue
            }
            if matchesDay(date), let time = firstTime(atOrAfter: secondOfDay) {
                return dayNumber * 86_400 + time
            }
            dayNumber += 1
            secondOfDay = 0
        }
        return nil
    }

    /// The first matching second of the day at or after `secondOfDay`, if the day has one left.
    private func firstTime(atOrAfter secondOfDay: Int) -> Int? {
        var hour = secondOfDay / 3600
        var minute = (secondOfDay % 3600) / 60
        var second = secondOfDay % 60
        while let h = hours.first(atOrAfter: hour) {
            if h != hour { (hour, minute, second) = (h, 0, 0) }
            while let m = minutes.first(atOrAfter: minute) {
                if m != minute { (minute, second) = (m, 0) }
                if let s = seconds.first(atOrAfter: second) {
                    return hour * 3600 + minute * 60 + s
                }
                (minute, second) = (minute + 1, 0)
            }
            (hour, minute, second) = (hour + 1, 0, 0)
        }
        return nil
    }
}

/// The allowed values of one cron field as a bit set.
struct FieldSet: Sendable, Hashable {
    var bits: UInt64

    enum Kind {
        case second, minute, hour, dayOfMonth, month, dayOfWeek

        var range: ClosedRange<Int> {
            switch self {
            case .second, .minute: 0...59
            case .hour: 0...23
            case .dayOfMonth: 1...31
            case .month: 1...12
            case .dayOfWeek: 0...7  // 7 is Sunday too
            }
        }

        var name: String {
            switch self {
            case .second: "second"
            case .minute: "minute"
            case .hour: "hour"
            case .dayOfMonth: "day-of-month"
            case .month: "month"
            case .dayOfWeek: "day-of-week"
            }
        }

        var names: [String] {
            switch self {
            case .month: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            case .dayOfWeek: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
            default: []
            }
        }
    }

    func contains(_ value: Int) -> Bool {
        bits & (1 << UInt64(value)) != 0
    }

    /// The smallest member at or after `value`.
    func first(atOrAfter value: Int) -> Int? {
        guard value < 64 else { return nil }
        let remaining = bits >> UInt64(value)
        return remaining == 0 ? nil : value + remaining.trailingZeroBitCount
    }

    static func parse(_ field: String, offset: Int, kind: Kind) throws(CronExpression.SyntaxError) -> FieldSet {
        var bits: UInt64 = 0
        var itemOffset = offset
        for item in field.split(separator: ",", omittingEmptySubsequences: false) {
            defer { itemOffset += item.count + 1 }
            bits |= try parseItem(String(item), offset: itemOffset, kind: kind)
        }
        if kind == .dayOfWeek, bits & (1 << 7) != 0 {
            bits = (bits & ~(1 << 7)) | 1  // 7 → Sunday
        }
        return FieldSet(bits: bits)
    }

    private static func parseItem(_ item: String, offset: Int, kind: Kind) throws(CronExpression.SyntaxError) -> UInt64 {
        func fail(_ message: String) -> CronExpression.SyntaxError {
            .init(message: "\(kind.name) field: \(message)", offset: offset)
        }
        guard !item.isEmpty else { throw fail("empty list item") }
        let parts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw fail("more than one '/' in '\(item)'") }
        var step = 1
        if parts.count == 2 {
            guard let value = Int(parts[1]), value >= 1, value <= kind.range.upperBound else {
                throw fail("step '\(parts[1])' must be a whole number from 1 to \(kind.range.upperBound)")
            }
            step = value
        }
        let base = String(parts[0])
        var low: Int, high: Int
        if base == "*" || base == "?" {
            if base == "?" && kind != .dayOfMonth && kind != .dayOfWeek {
                throw fail("'?' is only allowed in the day fields")
            }
            low = kind.range.lowerBound
            high = kind == .dayOfWeek ? 6 : kind.range.upperBound
        } else if let dash = base.firstIndex(of: "-") {
            low = try value(String(base[..<dash]), kind: kind, fail: fail)
            high = try value(String(base[base.index(after: dash)...]), kind: kind, fail: fail)
            guard low <= high else { throw fail("range \(base) runs backwards") }
        } else {
            low = try value(base, kind: kind, fail: fail)
            high = parts.count == 2 ? kind.range.upperBound : low
        }
        var bits: UInt64 = 0
        for value in stride(from: low, through: high, by: step) {
            bits |= 1 << UInt64(value)
        }
        return bits
    }

    private static func value(_ text: String, kind: Kind, fail: (String) -> CronExpression.SyntaxError) throws(CronExpression.SyntaxError) -> Int {
        if let index = kind.names.firstIndex(of: text.lowercased()) {
            return kind == .month ? index + 1 : index
        }
        guard let number = Int(text) else {
            if ["L", "W", "#"].contains(where: text.contains) {
                throw fail("'\(text)': the L, W and # extensions are not supported")
            }
            throw fail("'\(text)' is not a number")
        }
        guard kind.range.contains(number) else {
            throw fail("\(number) is out of range \(kind.range.lowerBound)-\(kind.range.upperBound)")
        }
        return number
    }
}
