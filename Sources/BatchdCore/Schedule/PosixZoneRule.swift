/// A POSIX `TZ` rule such as `CET-1CEST,M3.5.0,M10.5.0/3`: a standard offset and, optionally,
/// a daylight-saving offset with the yearly rule for switching. TZif files end with one, for
/// the instants after their last listed transition; `TZ` may hold one directly.
///
/// Offsets are kept as seconds east of UTC (POSIX writes them west: `CET-1` is UTC+1).
struct PosixZoneRule: Sendable, Hashable {
    let standardOffset: Int
    let daylight: Daylight?

    struct Daylight: Sendable, Hashable {
        let offset: Int
        let start: Switch
        let end: Switch
    }

    /// A day of the year and a local time of day (seconds; POSIX allows -167 to 167 hours).
    struct Switch: Sendable, Hashable {
        enum Day: Sendable, Hashable {
            /// `Jn`: day 1...365, February 29 never counted.
            case julian(Int)
            /// `n`: day 0...365, February 29 counted.
            case zeroBased(Int)
            /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = the last) of month `m`.
            case monthWeek(month: Int, week: Int, weekday: Int)
        }

        let day: Day
        let time: Int

        /// Seconds since 1970 of the switch in `year`, on the local clock that is in force
        /// just before it.
        func localSeconds(in year: Int) -> Int {
            let january1 = CivilDate(year: year, month: 1, day: 1).dayNumber
            let leap = CivilDate.daysIn(month: 2, year: year) == 29
            let dayNumber: Int
            switch day {
            case .julian(let n):
                dayNumber = january1 + n - 1 + (leap && n >= 60 ? 1 : 0)
            case .zeroBased(let n):
                dayNumber = january1 + n
            case .monthWeek(let month, let week, let weekday):
                let first = CivilDate(year: year, month: month, day: 1)
                var day = 1 + (weekday - first.weekday + 7) % 7 + (week - 1) * 7
                while day > CivilDate.daysIn(month: month, year: year) { day -= 7 }
                dayNumber = CivilDate(year: year, month: month, day: day).dayNumber
            }
            return dayNumber * 86_400 + time
        }
    }

    /// Seconds east of UTC at `instant`.
    func offset(at instant: Int64) -> Int {
        guard let daylight else { return standardOffset }
        let time = Int(instant)
        let year = CivilDate(dayNumber: floorDivide(time + standardOffset, 86_400)).year
        let start = daylight.start.localSeconds(in: year) - standardOffset
        let end = daylight.end.localSeconds(in: year) - daylight.offset
        let inDaylight = start < end ? (start <= time && time < end) : !(end <= time && time < start)
        return inDaylight ? daylight.offset : standardOffset
    }

    // MARK: Parsing

    init?(parsing text: String) {
        var scanner = Scanner(Array(text.utf8))
        guard scanner.skipName(), let standard = scanner.offset() else { return nil }
        standardOffset = -standard
        if scanner.atEnd {
            daylight = nil
            return
        }
        guard scanner.skipName() else { return nil }
        var daylightOffset = standardOffset + 3600
        if let explicit = scanner.offset() { daylightOffset = -explicit }
        let start: Switch, end: Switch
        if scanner.atEnd {
            // POSIX leaves the default rule to the implementation; glibc uses the US rule.
            start = Switch(day: .monthWeek(month: 3, week: 2, weekday: 0), time: 7200)
            end = Switch(day: .monthWeek(month: 11, week: 1, weekday: 0), time: 7200)
        } else {
            guard scanner.take(UInt8(ascii: ",")), let first = scanner.switchRule(),
                  scanner.take(UInt8(ascii: ",")), let second = scanner.switchRule(), scanner.atEnd else { return nil }
            (start, end) = (first, second)
        }
        daylight = Daylight(offset: daylightOffset, start: start, end: end)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        var atEnd: Bool { position >= bytes.count }

        var next: UInt8? { atEnd ? nil : bytes[position] }

        mutating func take(_ byte: UInt8) -> Bool {
            guard next == byte else { return false }
            position += 1
            return true
        }

        /// A zone abbreviation: three or more letters, or anything inside `<...>`.
        mutating func skipName() -> Bool {
            if take(UInt8(ascii: "<")) {
                guard let close = bytes[position...].firstIndex(of: UInt8(ascii: ">")), close - position >= 3 else { return false }
                position = close + 1
                return true
            }
            let start = position
            while let byte = next, (0x61...0x7A).contains(byte | 0x20) { position += 1 }  // ASCII letters, either case
            return position - start >= 3
        }

        mutating func number() -> Int? {
            let start = position
            var value = 0
            while let byte = next, (0x30...0x39).contains(byte), position - start < 6 {
                value = value * 10 + Int(byte - 0x30)
                position += 1
            }
            return position > start ? value : nil
        }

        /// `[+-]hh[:mm[:ss]]` in seconds, as written (west positive).
        mutating func offset() -> Int? {
            var sign = 1
            if take(UInt8(ascii: "-")) { sign = -1 } else { _ = take(UInt8(ascii: "+")) }
            guard let hours = number(), hours <= 167 else { return nil }
            var seconds = hours * 3600
            if take(UInt8(ascii: ":")) {
                guard let minutes = number(), minutes < 60 else { return nil }
                seconds += minutes * 60
                if take(UInt8(ascii: ":")) {
                    guard let secs = number(), secs < 60 else { return nil }
                    seconds += secs
                }
            }
            return sign * seconds
        }

        mutating func switchRule() -> Switch? {
            let day: Switch.Day
            if take(UInt8(ascii: "J")) {
                guard let n = number(), (1...365).contains(n) else { return nil }
                day = .julian(n)
            } else if take(UInt8(ascii: "M")) {
                guard let month = number(), (1...12).contains(month), take(UInt8(ascii: ".")),
                      let week = number(), (1...5).contains(week), take(UInt8(ascii: ".")),
                      let weekday = number(), (0...6).contains(weekday) else { return nil }
                day = .monthWeek(month: month, week: week, weekday: weekday)
            } else {
                guard let n = number(), (0...365).contains(n) else { return nil }
                day = .zeroBased(n)
            }
            var time = 7200
            if take(UInt8(ascii: "/")) {
                guard let explicit = offset() else { return nil }
                time = explicit
            }
            return Switch(day: day, time: time)
        }
    }
}
