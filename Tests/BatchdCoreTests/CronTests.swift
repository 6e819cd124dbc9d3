import BatchdCore
import Foundation
import Testing

@Suite("Cron expressions and fire times in time zones")
struct CronTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var expression: String
        var zone: String
        var after: String
        var expected: [String]
        var testDescription: String { "'\(expression)' in \(zone) after \(after)" }
    }

    /// Instants computed by hand. DST in 2026: Europe/Berlin springs forward on March 29 and
    /// falls back on October 25, both at 01:00 UTC; America/New_York on March 8 at 07:00 UTC
    /// and November 1 at 06:00 UTC.
    static let cases: [Case] = [
        // Berlin, spring forward: 02:30 does not exist; it fires once when the clocks jump.
        Case(expression: "30 2 * * *", zone: "Europe/Berlin", after: "2026-03-28T12:00:00Z",
             expected: ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
        // Berlin, fall back: 02:30 happens twice; it fires once, at the first.
        Case(expression: "30 2 * * *", zone: "Europe/Berlin", after: "2026-10-24T12:00:00Z",
             expected: ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
        // Every 30 minutes across the spring gap: 02:00, 02:30 and 03:00 fold into one run.
        Case(expression: "*/30 * * * *", zone: "Europe/Berlin", after: "2026-03-29T00:15:00Z",
             expected: ["2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"]),
        // Hourly across the autumn overlap: 02:00 runs once (the CEST one), then 03:00 CET.
        Case(expression: "0 * * * *", zone: "Europe/Berlin", after: "2026-10-24T23:30:00Z",
             expected: ["2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"]),
        // New York, spring forward at 02:00 EST.
        Case(expression: "30 2 * * *", zone: "America/New_York", after: "2026-03-07T12:00:00Z",
             expected: ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]),
        // New York, fall back: 01:30 EDT then 01:30 EST; only the first.
        Case(expression: "30 1 * * *", zone: "America/New_York", after: "2026-10-31T12:00:00Z",
             expected: ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]),
        // Weekdays at 09:00 in New York (EST in late November): Friday, then Monday.
        Case(expression: "0 9 * * 1-5", zone: "America/New_York", after: "2026-11-27T12:00:00Z",
             expected: ["2026-11-27T14:00:00Z", "2026-11-30T14:00:00Z"]),
        // Names and 7 for Sunday.
        Case(expression: "0 0 * * SUN", zone: "UTC", after: "2026-11-29T10:00:00Z",
             expected: ["2026-12-06T00:00:00Z"]),
        Case(expression: "0 0 * * 7", zone: "UTC", after: "2026-11-29T10:00:00Z",
             expected: ["2026-12-06T00:00:00Z"]),
        Case(expression: "0 6 1 jan,JUL *", zone: "UTC", after: "2026-11-29T10:00:00Z",
             expected: ["2027-01-01T06:00:00Z", "2027-07-01T06:00:00Z"]),
        // Both day fields restricted: either matches (Vixie cron).
        Case(expression: "0 12 1 * MON", zone: "UTC", after: "2026-11-29T13:00:00Z",
             expected: ["2026-11-30T12:00:00Z", "2026-12-01T12:00:00Z", "2026-12-07T12:00:00Z"]),
        // One day field starred: both must match, so */2 on days still restricts.
        Case(expression: "0 0 */10 * *", zone: "UTC", after: "2026-11-29T13:00:00Z",
             expected: ["2026-12-01T00:00:00Z", "2026-12-11T00:00:00Z", "2026-12-21T00:00:00Z", "2026-12-31T00:00:00Z"]),
        // February 29th comes round in 2028.
        Case(expression: "0 0 29 2 *", zone: "UTC", after: "2026-01-01T00:00:00Z",
             expected: ["2028-02-29T00:00:00Z"]),
        // Six fields: seconds first.
        Case(expression: "*/15 * * * * *", zone: "UTC", after: "2026-11-29T10:00:07Z",
             expected: ["2026-11-29T10:00:15Z", "2026-11-29T10:00:30Z"]),
        Case(expression: "@weekly", zone: "UTC", after: "2026-11-29T10:00:00Z",
             expected: ["2026-12-06T00:00:00Z"]),
        Case(expression: "@hourly", zone: "UTC", after: "2026-12-31T23:59:59Z",
             expected: ["2027-01-01T00:00:00Z"]),
        // A half-hour zone.
        Case(expression: "0 9 * * *", zone: "Asia/Kolkata", after: "2026-11-29T00:00:00Z",
             expected: ["2026-11-29T03:30:00Z"]),
        // Year-end and ranges with steps.
        Case(expression: "0 8-18/5 31 12 *", zone: "UTC", after: "2026-12-31T09:00:00Z",
             expected: ["2026-12-31T13:00:00Z", "2026-12-31T18:00:00Z", "2027-12-31T08:00:00Z"]),
    ]

    @Test(arguments: cases)
    func fireTimes(_ testCase: Case) throws {
        let expression = try CronExpression(parsing: testCase.expression)
        let zone = try #require(ZoneRules.named(testCase.zone))
        let start = try #require(Timestamp.parse(testCase.after))
        let fires = ZonedCron(expression: expression, timeZone: zone).nextFires(after: start, count: testCase.expected.count)
        #expect(fires == testCase.expected.compactMap(Timestamp.parse))
    }

    @Test func everyMinuteAcrossAWholeDSTDayFiresOncePerValidOrSkippedMinute() throws {
        // Spring forward in Berlin: the day has 23 hours, 1380 minutes; the 60 skipped minutes
        // fold into one run at 03:00 CEST, which is itself a matching minute, so 1380 runs.
        let zoned = ZonedCron(expression: try CronExpression(parsing: "* * * * *"), timeZone: ZoneRules.named("Europe/Berlin")!)
        let start = Timestamp.parse("2026-03-28T22:59:59Z")!  // 23:59:59 CET
        let end = Timestamp.parse("2026-03-29T21:59:59Z")!    // 23:59:59 CEST
        var count = 0, cursor = start, last = start
        while let next = zoned.nextFire(after: cursor), next <= end {
            #expect(next > last)
            count += 1
            cursor = next
            last = next
        }
        #expect(count == 1380)

        // Fall back: 25 hours, but each repeated minute runs once: 1440 runs, no duplicates.
        let autumnStart = Timestamp.parse("2026-10-24T21:59:59Z")!  // 23:59:59 CEST
        let autumnEnd = Timestamp.parse("2026-10-25T22:59:59Z")!    // 23:59:59 CET
        count = 0
        cursor = autumnStart
        while let next = zoned.nextFire(after: cursor), next <= autumnEnd {
            count += 1
            cursor = next
        }
        #expect(count == 1440)
    }

    @Test(arguments: [
        ("61 * * * *", "minute field: 61 is out of range 0-59", 0),
        ("0 25 * * *", "hour field: 25 is out of range 0-23", 2),
        ("0 0 0 * *", "day-of-month field: 0 is out of range 1-31", 4),
        ("0 0 * 13 *", "month field: 13 is out of range 1-12", 6),
        ("0 0 * * 8", "day-of-week field: 8 is out of range 0-7", 8),
        ("0 0 L * *", "day-of-month field: 'L': the L, W and # extensions are not supported", 4),
        ("5-1 * * * *", "minute field: range 5-1 runs backwards", 0),
        ("*/0 * * * *", "minute field: step '0' must be a whole number from 1 to 59", 0),
        ("1,,2 * * * *", "minute field: empty list item", 2),
        ("0 ? * * *", "hour field: '?' is only allowed in the day fields", 2),
        ("@fortnightly", "unknown descriptor '@fortnightly'", 0),
        ("* * * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got 7", 0),
    ])
    func syntaxErrors(_ text: String, _ message: String, _ offset: Int) {
        #expect(throws: CronExpression.SyntaxError(message: message, offset: offset)) {
            try CronExpression(parsing: text)
        }
    }

    @Test func civilDatesRoundTripAndKnowTheirWeekday() {
        for dayNumber in stride(from: -800_000, through: 800_000, by: 37) {
            let date = CivilDate(dayNumber: dayNumber)
            #expect(date.dayNumber == dayNumber)
        }
        #expect(CivilDate(year: 1970, month: 1, day: 1).weekday == 4)  // Thursday
        #expect(CivilDate(year: 2026, month: 11, day: 29).weekday == 0)  // Sunday
        #expect(CivilDate(year: 2000, month: 2, day: 29).dayNumber == 11_016)
    }

    @Test func timestampsPrintAndParseTheSpecsFormat() throws {
        let date = try #require(Timestamp.parse("2026-11-29T14:00:00.012Z"))
        #expect(Timestamp.iso8601(date) == "2026-11-29T14:00:00.012Z")
        #expect(Timestamp.local(date, in: ZoneRules.named("Europe/Berlin")!) == "2026-11-29 15:00:00 +01:00")
        #expect(Timestamp.local(date, in: ZoneRules.named("America/St_Johns")!) == "2026-11-29 10:30:00 -03:30")
        #expect(Timestamp.parse("2026-11-29 14:00:00Z") == nil)
    }
}
