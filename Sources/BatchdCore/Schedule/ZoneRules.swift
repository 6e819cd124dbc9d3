import FoundationEssentials
import Glibc
import Synchronization

/// A time zone's UTC offsets over time, read from the system's IANA database (Debian's `tzdata`,
/// `/usr/share/zoneinfo`, or `$TZDIR`), so that cron schedules in named zones need neither
/// Foundation's `TimeZone` nor ICU: batchd links only FoundationEssentials, whose `TimeZone`
/// knows fixed offsets only, and that cuts ICU's 30-odd MB of data from the binary.
///
/// The offsets come from the TZif file's transitions and, after the last one, from its footer
/// rule (`PosixZoneRule`); `UTC` works even where tzdata is not installed.
public struct ZoneRules: Sendable, Hashable, CustomStringConvertible {
    /// The IANA name (`Europe/Berlin`), or for a `TZ` rule the rule itself.
    public var identifier: String { storage.identifier }
    /// One reference: every cron job carries its zone, and ten thousand jobs share a few.
    private let storage: Storage

    private final class Storage: Sendable {
        let identifier: String
        /// Instants (seconds since 1970, UTC) at which the offset changes, ascending.
        let transitions: [Int64]
        /// The offset (seconds east of UTC) from each transition on.
        let offsets: [Int32]
        /// The offset before the first transition.
        let initialOffset: Int32
        /// The offsets after the last transition; nil keeps the last transition's offset.
        let rule: PosixZoneRule?

        init(identifier: String, transitions: [Int64], offsets: [Int32], initialOffset: Int32, rule: PosixZoneRule?) {
            self.identifier = identifier
            self.transitions = transitions
            self.offsets = offsets
            self.initialOffset = initialOffset
            self.rule = rule
        }
    }

    init(identifier: String, transitions: [Int64], offsets: [Int32], initialOffset: Int32, rule: PosixZoneRule?) {
        storage = Storage(identifier: identifier, transitions: transitions, offsets: offsets, initialOffset: initialOffset, rule: rule)
    }

    public static let utc = ZoneRules(identifier: "UTC", transitions: [], offsets: [], initialOffset: 0, rule: nil)

    public var description: String { identifier }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(identifier)
    }

    public static func == (lhs: ZoneRules, rhs: ZoneRules) -> Bool {
        lhs.storage === rhs.storage
            || (lhs.identifier == rhs.identifier && lhs.storage.transitions == rhs.storage.transitions
                && lhs.storage.offsets == rhs.storage.offsets && lhs.storage.initialOffset == rhs.storage.initialOffset
                && lhs.storage.rule == rhs.storage.rule)
    }

    /// Seconds east of UTC at `instant` (seconds since 1970, UTC).
    public func secondsFromGMT(at instant: Int) -> Int {
        let (transitions, offsets, initialOffset, rule) = (storage.transitions, storage.offsets, storage.initialOffset, storage.rule)
        let time = Int64(instant)
        guard let first = transitions.first, time >= first else {
            if transitions.isEmpty, let rule { return rule.offset(at: time) }
            return Int(initialOffset)
        }
        if time >= transitions[transitions.count - 1], let rule {
            return rule.offset(at: time)
        }
        // The last transition at or before `time`.
        var low = 0, high = transitions.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if transitions[middle] <= time { low = middle } else { high = middle - 1 }
        }
        return Int(offsets[low])
    }

    public func secondsFromGMT(for date: Date) -> Int {
        secondsFromGMT(at: Int(date.timeIntervalSince1970.rounded(.down)))
    }

    // MARK: Finding zones

    /// Where the zone files are: `$TZDIR`, else Debian's place.
    public static var databaseDirectory: String {
        ProcessInfo.processInfo.environment["TZDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/share/zoneinfo"
    }

    private static let loaded = Mutex<[String: ZoneRules]>([:])

    /// The zone named `identifier` (an IANA name such as `Europe/Berlin`), or nil when the
    /// database has no such zone. Each zone is read once per process.
    public static func named(_ identifier: String) -> ZoneRules? {
        if let known = loaded.withLock({ $0[identifier] }) { return known }
        guard isPlausibleName(identifier) else { return nil }
        let zone: ZoneRules
        if let bytes = readFile("\(databaseDirectory)/\(identifier)"), let parsed = TZifFile.parse(bytes, identifier: identifier) {
            zone = parsed
        } else if ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Zulu", "Etc/Zulu", "UCT", "Etc/UCT", "Universal", "Etc/Universal"].contains(identifier) {
            zone = ZoneRules(identifier: identifier, transitions: [], offsets: [], initialOffset: 0, rule: nil)
        } else {
            return nil
        }
        loaded.withLock { $0[identifier] = zone }
        return zone
    }

    /// The machine's zone, as the C library finds it: `$TZ` (a zone name, a file, or a POSIX
    /// rule such as `CET-1CEST,M3.5.0,M10.5.0/3`), else `/etc/localtime`, else UTC.
    public static let local: ZoneRules = {
        if let tz = ProcessInfo.processInfo.environment["TZ"], !tz.isEmpty {
            let name = tz.hasPrefix(":") ? String(tz.dropFirst()) : tz
            if name.hasPrefix("/"), let bytes = readFile(name), let zone = TZifFile.parse(bytes, identifier: zoneName(inPath: name) ?? name) {
                return zone
            }
            return named(name) ?? posix(name) ?? .utc
        }
        let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/etc/localtime")
        if let bytes = readFile("/etc/localtime"), let zone = TZifFile.parse(bytes, identifier: link.flatMap(zoneName(inPath:)) ?? "localtime") {
            return zone
        }
        return .utc
    }()

    /// A zone given as a POSIX rule (`CET-1CEST,M3.5.0,M10.5.0/3`), as `TZ` may hold one.
    public static func posix(_ text: String) -> ZoneRules? {
        guard let rule = PosixZoneRule(parsing: text) else { return nil }
        return ZoneRules(identifier: text, transitions: [], offsets: [], initialOffset: Int32(rule.standardOffset), rule: rule)
    }

    /// The zone in a TZif file, or nil when it cannot be read or is not one.
    public static func parse(fileAt path: String, identifier: String) -> ZoneRules? {
        readFile(path).flatMap { TZifFile.parse($0, identifier: identifier) }
    }

    /// Every zone name the database has, for "did you mean" hints; read only when asked.
    public static func knownIdentifiers() -> [String] {
        var names: [String] = []
        func walk(_ folder: String, prefix: String) {
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
            for entry in entries where !entry.contains(".") && !["posix", "right", "posixrules", "localtime", "Factory"].contains(entry) {
                let path = "\(folder)/\(entry)", name = prefix + entry
                var info = stat()
                guard stat(path, &info) == 0 else { continue }
                if info.st_mode & S_IFMT == S_IFDIR {
                    walk(path, prefix: name + "/")
                } else if entry.first?.isUppercase == true {
                    names.append(name)
                }
            }
        }
        walk(databaseDirectory, prefix: "")
        return names.isEmpty ? ["UTC"] : names.sorted()
    }

    /// A relative path of letters, digits and `/_+-`, with no `..`: nothing outside the database.
    static func isPlausibleName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix("/") && !name.split(separator: "/").contains("..")
            && name.utf8.allSatisfy { byte in
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || "/_+-.".utf8.contains(byte)
            }
    }

    /// `Europe/Berlin` for `/usr/share/zoneinfo/Europe/Berlin`.
    static func zoneName(inPath path: String) -> String? {
        guard let range = path.firstRange(of: "zoneinfo/") else { return nil }
        return String(path[range.upperBound...])
    }

    /// A zone file's bytes (they are a few KiB), or nil when it cannot be read. Read at most 1 MiB
    /// rather than with `FileManager.contents`: `TZ` may name any file (`TZ=/dev/zero`).
    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while bytes.count < 1 << 20 {
            let count = read(fd, &chunk, chunk.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }
}
