import BatchdCore
import Foundation
import Testing

/// batchd reads zone offsets from the system's tzdata itself (`ZoneRules`); these tests hold it
/// against Foundation's ICU-backed `TimeZone`, a separate implementation with its own copy of
/// the IANA data, which the tests may use because they are not shipped.
@Suite struct ZoneRulesTests {
    /// Twenty zones with every kind of rule (half and quarter hours, southern DST, negative
    /// DST in Dublin, zones that changed their rules) in `make test`; `make stress` checks
    /// every zone the database has that ICU also knows.
    static let zones = ProcessInfo.processInfo.environment["BATCHD_STRESS"] != nil
        ? ZoneRules.knownIdentifiers().filter { TimeZone(identifier: $0) != nil && !legacyZonesRedefinedIn2024b.contains($0) } : [
        "UTC", "Europe/Berlin", "Europe/London", "Europe/Dublin", "America/New_York", "America/St_Johns",
        "America/Sao_Paulo", "America/Santiago", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Auckland",
        "Pacific/Chatham", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Tehran", "Africa/Casablanca", "Pacific/Apia",
        "America/Havana", "Antarctica/Troll", "Asia/Gaza",
    ]

    /// tzdata 2024b made these links to cities (WET is Europe/Lisbon now, with its 1992-96
    /// CET years); Debian's tzdata has that, the ICU data in the toolchain does not yet.
    static let legacyZonesRedefinedIn2024b: Set = ["WET", "CET", "MET", "EET", "EST", "MST", "HST", "EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT"]

    @Test(arguments: zones)
    func offsetsMatchICUEveryFewHoursFrom1990To2036(_ name: String) throws {
        let ours = try #require(ZoneRules.named(name))
        let icu = try #require(TimeZone(identifier: name))
        var mismatches: [String] = []
        // Every 7 hours and 13 minutes: it lands on every hour of the day over the years.
        var instant = 631_152_000  // 1990-01-01
        while instant < 2_082_758_400 {  // 2036-01-01
            let expected = icu.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
            let got = ours.secondsFromGMT(at: instant)
            if got != expected, mismatches.count < 5 { mismatches.append("\(instant): ours \(got), ICU \(expected)") }
            instant += 7 * 3600 + 13 * 60
        }
        #expect(mismatches.isEmpty, "\(name): \(mismatches)")
    }

    @Test(arguments: ["Europe/Berlin", "America/New_York", "Australia/Sydney", "America/Santiago", "Pacific/Auckland"])
    func transitionsMatchICUToTheSecondIn2026(_ name: String) throws {
        let ours = try #require(ZoneRules.named(name))
        let icu = try #require(TimeZone(identifier: name))
        let year = (1_767_225_600, 1_798_761_600)  // 2026
        var transition = icu.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: TimeInterval(year.0)))
        var seen = 0
        while let date = transition, Int(date.timeIntervalSince1970) < year.1 {
            let at = Int(date.timeIntervalSince1970)
            #expect(ours.secondsFromGMT(at: at - 1) == icu.secondsFromGMT(for: date.addingTimeInterval(-1)), "\(name) before \(date)")
            #expect(ours.secondsFromGMT(at: at) == icu.secondsFromGMT(for: date), "\(name) at \(date)")
            seen += 1
            transition = icu.nextDaylightSavingTimeTransition(after: date)
        }
        #expect(seen == 2)
    }

    @Test func footerRulesCarryZonesPastTheirLastTransition() throws {
        // Debian's files list transitions up to 2037; later instants come from the footer rule.
        let berlin = try #require(ZoneRules.named("Europe/Berlin"))
        let summer2050 = CivilDate(year: 2050, month: 7, day: 1).dayNumber * 86_400
        let winter2050 = CivilDate(year: 2050, month: 1, day: 1).dayNumber * 86_400
        #expect(berlin.secondsFromGMT(at: summer2050) == 7200)
        #expect(berlin.secondsFromGMT(at: winter2050) == 3600)
        // The last Sunday of March 2050 is the 27th; CEST begins at 01:00 UTC.
        let springForward = CivilDate(year: 2050, month: 3, day: 27).dayNumber * 86_400 + 3600
        #expect(berlin.secondsFromGMT(at: springForward - 1) == 3600)
        #expect(berlin.secondsFromGMT(at: springForward) == 7200)
        let sydney = try #require(ZoneRules.named("Australia/Sydney"))
        #expect(sydney.secondsFromGMT(at: winter2050) == 11 * 3600)  // southern summer
        #expect(sydney.secondsFromGMT(at: summer2050) == 10 * 3600)
    }

    @Test func posixRulesAsTZSetsThem() throws {
        let rule = try #require(ZoneRules.posix("CET-1CEST,M3.5.0,M10.5.0/3"))
        let march29 = CivilDate(year: 2026, month: 3, day: 29).dayNumber * 86_400
        #expect(rule.secondsFromGMT(at: march29 + 3599) == 3600)
        #expect(rule.secondsFromGMT(at: march29 + 3600) == 7200)
        let fixed = try #require(ZoneRules.posix("<+0330>-3:30"))
        #expect(fixed.secondsFromGMT(at: march29) == 12_600)
        // A Julian day rule, February 29 never counted: J60 is March 1 even in 2028.
        let julian = try #require(ZoneRules.posix("AAA3BBB,J60/0,J300/0"))
        let march1 = CivilDate(year: 2028, month: 3, day: 1).dayNumber * 86_400 + 3 * 3600
        #expect(julian.secondsFromGMT(at: march1 - 1) == -3 * 3600)
        #expect(julian.secondsFromGMT(at: march1) == -2 * 3600)
        // A bare daylight name takes glibc's default (US) rule: second Sunday of March.
        let us = try #require(ZoneRules.posix("EST5EDT"))
        let march8 = CivilDate(year: 2026, month: 3, day: 8).dayNumber * 86_400 + 7 * 3600
        #expect(us.secondsFromGMT(at: march8 - 1) == -5 * 3600)
        #expect(us.secondsFromGMT(at: march8) == -4 * 3600)
        for bad in ["", "C", "CET", "CET-1CEST,M3.5", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.5.0,M10.5.0/x", "<+03"] {
            #expect(ZoneRules.posix(bad) == nil, "\(bad)")
        }
    }

    @Test func namesThatAreNotZonesAreRefused() {
        for name in ["Europe/Berln", "../../etc/passwd", "/etc/localtime", "Europe/../../../etc/passwd", "", "posix/../../x", "Europe/Berlin\0"] {
            #expect(ZoneRules.named(name) == nil, "\(name)")
        }
        // A file that is not TZif (zone1970.tab sits in the same folder).
        #expect(ZoneRules.named("zone1970.tab") == nil)
        let known = ZoneRules.knownIdentifiers()
        #expect(known.contains("Europe/Berlin") && known.contains("America/Argentina/Buenos_Aires") && known.contains("UTC"))
        #expect(!known.contains { $0.hasPrefix("posix/") || $0.hasPrefix("right/") || $0.contains(".") })
    }

    @Test func utcNeedsNoZoneFile() throws {
        // (The binary with an empty TZDIR: ValidateCommandTests.)
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(ZoneRules.parse(fileAt: "\(folder)/UTC", identifier: "UTC") == nil)
        #expect(ZoneRules.utc.secondsFromGMT(at: 0) == 0)
        #expect(ZoneRules.named("Etc/UTC")?.secondsFromGMT(at: 1_800_000_000) == 0)
    }

    @Test func tornAndForeignFilesAreRefusedNotTrapped() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/Europe/Berlin")))
        // Every prefix of a real file, and the file with each header count inflated.
        for length in stride(from: 0, to: original.count, by: 37) {
            let path = "\(folder)/cut-\(length)"
            try Data(original[0..<length]).write(to: URL(fileURLWithPath: path))
            _ = ZoneRules.parse(fileAt: path, identifier: "cut")  // must not trap
        }
        for field in 0..<6 {
            var bytes = original
            bytes[20 + 4 * field] = 0x7F
            let path = "\(folder)/inflated-\(field)"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect(ZoneRules.parse(fileAt: path, identifier: "inflated") == nil)
        }
        #expect(ZoneRules.parse(fileAt: "/usr/share/zoneinfo/Europe/Berlin", identifier: "Europe/Berlin") != nil)
    }

    static func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("batchd-zones-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// The string helpers that stand in for NSString and Foundation's trimming, held against
/// Foundation itself.
@Suite struct FoundationStandInTests {
    /// path, standardized, directory, joined to /etc (what NSString gave for each; written out
    /// because corelibs' `standardizingPath` traps on some of them).
    static let paths: [(String, String, String, String)] = [
        ("/a/b/c", "/a/b/c", "/a/b", "/a/b/c"), ("/a/b/", "/a/b", "/a", "/a/b/"), ("a/b", "a/b", "a", "/etc/a/b"),
        ("a", "a", ".", "/etc/a"), ("/", "/", "/", "/"), ("/a", "/a", "/", "/a"), ("./a/../b", "b", "./a/..", "/etc/./a/../b"),
        ("/a/./b//c/", "/a/b/c", "/a/./b/", "/a/./b//c/"), ("/../a", "/a", "/..", "/../a"), ("//a//b", "/a/b", "//a/", "//a//b"),
    ]

    @Test func pathsAsNSStringHadThem() {
        for (path, standardized, directory, joined) in Self.paths {
            #expect(PathText.standardized(path) == standardized, "standardized \(path)")
            #expect(PathText.standardized(PathText.directory(of: path)) == PathText.standardized(directory), "directory of \(path)")
            #expect(PathText.join("/etc", path) == joined, "join \(path)")
        }
    }

    @Test func relativePathsKeepTheirLeadingParents() {
        // NSString leaves `..` it cannot resolve in place too; batchd's folders never start so.
        #expect(PathText.standardized("../x/./y") == "../x/y")
        #expect(PathText.standardized("a/../..") == "..")
        #expect(PathText.resolvingSymlinks("/proc/self/../self/..") == "/proc")
        #expect(PathText.resolvingSymlinks("/no/such/./dir/..") == "/no/such")
    }

    @Test func trimmingAndPaddingAsFoundationDoes() {
        for text in ["  a b \t", "\n\r a\u{00A0}", "", "   ", "x"] {
            #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespacesAndNewlines), "\(text.debugDescription)")
            #expect(text.trimmingSpaces() == text.trimmingCharacters(in: .whitespaces), "\(text.debugDescription)")
        }
        #expect("ab".padded(to: 5) == "ab   " && "abcdef".padded(to: 3) == "abcdef")
        #expect(7.zeroPadded(2) == "07" && 123.zeroPadded(2) == "123" && (-5).zeroPadded(3) == "-05")
        #expect(7.zeroPadded(2) == String(format: "%02d", 7) && (-5).zeroPadded(3) == String(format: "%03d", -5))
    }

    @Test func createDirectoriesSaysWhyItCannot() throws {
        let folder = try ZoneRulesTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try PathText.createDirectories("\(folder)/a/b/c")
        try PathText.createDirectories("\(folder)/a/b/c")  // already there
        #expect(FileManager.default.fileExists(atPath: "\(folder)/a/b/c"))
        #expect(FileManager.default.createFile(atPath: "\(folder)/file", contents: Data()))
        #expect(throws: SystemCallError.self) { try PathText.createDirectories("\(folder)/file/x") }
        do {
            try PathText.createDirectories("\(folder)/file")
            Issue.record("a file is not a folder")
        } catch {
            #expect(error.description == "Not a directory")
        }
    }
}
