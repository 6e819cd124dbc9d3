/// Reads a zone file in the TZif format (RFC 8536) into `ZoneRules`: the transition instants,
/// the offset each one brings in, and the footer rule for instants after the last transition.
/// Version 2 and later files carry the data twice; the 64-bit second copy is the one used.
enum TZifFile {
    static func parse(_ bytes: [UInt8], identifier: String) -> ZoneRules? {
        guard var header = Header(bytes, at: 0) else { return nil }
        var cursor = 44
        var timeSize = 4
        if header.version >= 2 {
            // Skip the 32-bit block; the 64-bit header and block follow it.
            cursor += header.blockSize(timeSize: 4)
            guard let second = Header(bytes, at: cursor) else { return nil }
            header = second
            cursor += 44
            timeSize = 8
        }
        guard cursor + header.blockSize(timeSize: timeSize) <= bytes.count, header.typeCount > 0 else { return nil }
        func integer(at offset: Int, size: Int) -> Int64 {
            var value: Int64 = 0
            for byte in bytes[offset..<(offset + size)] { value = value << 8 | Int64(byte) }
            // Sign-extend from `size` bytes.
            let shift = Int64(64 - 8 * size)
            return (value << shift) >> shift
        }
        let timesAt = cursor, indexesAt = timesAt + header.transitionCount * timeSize, typesAt = indexesAt + header.transitionCount
        var offsetsByType: [Int32] = []
        for type in 0..<header.typeCount {
            offsetsByType.append(Int32(truncatingIfNeeded: integer(at: typesAt + 6 * type, size: 4)))
        }
        var transitions: [Int64] = [], offsets: [Int32] = []
        for number in 0..<header.transitionCount {
            let type = Int(bytes[indexesAt + number])
            guard type < offsetsByType.count else { return nil }
            transitions.append(integer(at: timesAt + number * timeSize, size: timeSize))
            offsets.append(offsetsByType[type])
        }
        guard zip(transitions, transitions.dropFirst()).allSatisfy({ $0 < $1 }) else { return nil }
        var rule: PosixZoneRule?
        if header.version >= 2 {
            // The footer: a newline, a POSIX TZ rule (maybe empty), a newline.
            let footerAt = cursor + header.blockSize(timeSize: timeSize)
            if footerAt < bytes.count, bytes[footerAt] == 0x0A, let end = bytes[(footerAt + 1)...].firstIndex(of: 0x0A) {
                let text = String(decoding: bytes[(footerAt + 1)..<end], as: UTF8.self)
                rule = text.isEmpty ? nil : PosixZoneRule(parsing: text)
            }
        }
        return ZoneRules(identifier: identifier, transitions: transitions, offsets: offsets, initialOffset: offsetsByType[0], rule: rule)
    }

    private struct Header {
        var version: Int
        var utIndicatorCount, standardIndicatorCount, leapCount, transitionCount, typeCount, designationBytes: Int

        init?(_ bytes: [UInt8], at offset: Int) {
            guard offset + 44 <= bytes.count, Array(bytes[offset..<(offset + 4)]) == Array("TZif".utf8) else { return nil }
            version = bytes[offset + 4] == 0 ? 1 : Int(bytes[offset + 4]) - 0x30
            func count(_ number: Int) -> Int {
                let at = offset + 20 + 4 * number
                return Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            }
            (utIndicatorCount, standardIndicatorCount, leapCount) = (count(0), count(1), count(2))
            (transitionCount, typeCount, designationBytes) = (count(3), count(4), count(5))
        }

        func blockSize(timeSize: Int) -> Int {
            transitionCount * (timeSize + 1) + typeCount * 6 + designationBytes
                + leapCount * (timeSize + 4) + standardIndicatorCount + utIndicatorCount
        }
    }
}
