import FoundationEssentials
import Glibc

/// The two ways batchd writes times: UTC ISO 8601 with milliseconds (history, JSON, APIs), and a
/// wall-clock time with its UTC offset for people. Written by hand on `CivilDate` so that it costs
/// no formatter objects and is the same on every machine.
public enum Timestamp {
    /// `2026-11-29T14:00:00.012Z`. Written digit by digit into 24 bytes: every run record has
    /// several, and a status answer one per job.
    public static func iso8601(_ date: Date) -> String {
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        guard let civil = fourDigitYear(milliseconds) else { return wideYear(milliseconds) }
        return String(unsafeUninitializedCapacity: 24) { buffer in
            put(milliseconds, civil, into: buffer)
            return 24
        }
    }

    /// `iso8601(date)` appended to `bytes` as a JSON string, quotes included, without a
    /// `String` in between: a status.json with thousands of jobs has four per job.
    public static func writeISO8601(_ date: Date, to bytes: inout [UInt8]) {
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        guard let civil = fourDigitYear(milliseconds) else {
            JSONWriter.writeString(wideYear(milliseconds), to: &bytes)
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 26) { buffer in
            buffer[0] = UInt8(ascii: "\"")
            put(milliseconds, civil, into: UnsafeMutableBufferPointer(rebasing: buffer[1..<25]))
            buffer[25] = UInt8(ascii: "\"")
            bytes.append(contentsOf: buffer)
        }
    }

    private static func fourDigitYear(_ milliseconds: Int) -> CivilDate? {
        let civil = CivilDate(dayNumber: floorDivide(floorDivide(milliseconds, 1000), 86_400))
        return (0...9999).contains(civil.year) ? civil : nil
    }

    private static func wideYear(_ milliseconds: Int) -> String {
        let seconds = floorDivide(milliseconds, 1000)
        return wallClock(seconds: seconds, separator: "T") + "." + pad(milliseconds - seconds * 1000, 3) + "Z"
    }

    /// The 24 bytes, digit by digit, into `buffer`.
    private static func put(_ milliseconds: Int, _ civil: CivilDate, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        let seconds = floorDivide(milliseconds, 1000)
        let secondOfDay = seconds - floorDivide(seconds, 86_400) * 86_400
        func put(_ value: Int, _ width: Int, at offset: Int) {
            var rest = value
            for position in stride(from: offset + width - 1, through: offset, by: -1) {
                buffer[position] = UInt8(48 + rest % 10)
                rest /= 10
            }
        }
        put(civil.year, 4, at: 0)
        put(civil.month, 2, at: 5)
        put(civil.day, 2, at: 8)
        put(secondOfDay / 3600, 2, at: 11)
        put(secondOfDay % 3600 / 60, 2, at: 14)
        put(secondOfDay % 60, 2, at: 17)
        put(milliseconds - seconds * 1000, 3, at: 20)
        (buffer[4], buffer[7], buffer[10], buffer[13], buffer[16], buffer[19], buffer[23]) =
            (UInt8(ascii: "-"), UInt8(ascii: "-"), UInt8(ascii: "T"), UInt8(ascii: ":"), UInt8(ascii: ":"), UInt8(ascii: "."), UInt8(ascii: "Z"))
    }

    /// `2026-11-30 04:00:00 +01:00` in `zone`.
    public static func local(_ date: Date, in zone: ZoneRules) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let offset = zone.secondsFromGMT(for: date)
        let sign = offset < 0 ? "-" : "+"
        let magnitude = abs(offset)
        return wallClock(seconds: seconds + offset, separator: " ") + " \(sign)\(pad(magnitude / 3600, 2)):\(pad(magnitude % 3600 / 60, 2))"
    }

    /// Parses what `iso8601` writes (and the same without milliseconds).
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[from..<(from + count)] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        let separators: [(Int, Character)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        guard separators.allSatisfy({ bytes[$0.0] == $0.1.asciiValue! }) else { return nil }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var milliseconds = 0
        if bytes.count == 24, bytes[19] == UInt8(ascii: "."), let fraction = number(20, 3) {
            milliseconds = fraction
        } else if bytes.count != 20 {
            return nil
        }
        let days = CivilDate(year: year, month: month, day: day).dayNumber
        let total = (days * 86_400 + hour * 3600 + minute * 60 + second) * 1000 + milliseconds
        return Date(timeIntervalSince1970: Double(total) / 1000)
    }

    private static func wallClock(seconds: Int, separator: String) -> String {
        let days = floorDivide(seconds, 86_400)
        let secondOfDay = seconds - days * 86_400
        let date = CivilDate(dayNumber: days)
        return "\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2))\(separator)"
            + "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay % 3600 / 60, 2)):\(pad(secondOfDay % 60, 2))"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
