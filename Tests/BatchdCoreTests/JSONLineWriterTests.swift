import BatchdCore
import Foundation
import Glibc
import Logging
import Testing

/// The lines written on every run (history records, the daemon's JSON log) are written field by
/// field, not through a `JSONValue` tree: they must be the very bytes the tree would give.
@Suite("JSON lines written field by field")
struct JSONLineWriterTests {
    @Test func integersAreTheDigitsSwiftPrints() {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 999_999, 1_000_000, .max, .min, .max - 1, .min + 1]
        var generator = SystemRandomNumberGenerator()
        values += (0..<1000).map { _ in Int64.random(in: .min ... .max, using: &generator) >> Int64.random(in: 0...62, using: &generator) }
        for value in values {
            var bytes: [UInt8] = []
            JSONWriter.writeInteger(value, to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == String(value))
        }
    }

    func record(error: String?, result: JSONValue, logs: [LogEntry]) -> RunRecord {
        RunRecord(id: 1_042, jobType: "job \"quoted\"\n", displayName: "Ünïcode ✓ \u{1}\u{7F}", status: error == nil ? .completed : .failed,
                  trigger: .schedule, attempt: 3, startedAt: Date(timeIntervalSince1970: 1_764_590_400.123),
                  completedAt: Date(timeIntervalSince1970: 1_764_590_401.5), itemsChecked: 12, itemsUpdated: -1,
                  error: error, result: result, logs: logs)
    }

    @Test func aRecordLineIsItsJSONWrittenWhole() throws {
        let entry = LogEntry(timestamp: Date(timeIntervalSince1970: 1_764_590_400.5), level: .warn, message: "tab\there \\ back",
                             metadata: [("n", .int(-7)), ("nested", .object([("a", .array([.bool(true), .null, .double(1.5)]))]))])
        let records = [
            record(error: nil, result: .object([]), logs: []),
            record(error: "exit status 3: \"boom\"\r\n", result: .object([("digest", .string("sha256:abc")), ("count", .int(2))]), logs: [entry, entry]),
            record(error: "", result: .array([.string("x")]), logs: [entry]),
        ]
        for record in records {
            var expected: [UInt8] = []
            JSONWriter.write(record.json, to: &expected)
            expected.append(0x0A)
            #expect(record.line == expected)
            #expect(try RunRecord(line: record.line.dropLast()) == record)
        }
    }

    @Test func aJSONLogLineKeepsItsShapeAndOrder() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let handler = ConsoleLogHandler(label: "test", format: .json, level: .debug, fileDescriptor: fds[1])
        var logger = Logger(label: "test") { _ in handler }
        logger[metadataKey: "job"] = "nightly \"db\""
        logger.info("run recorded\nsecond line", metadata: ["run": "7", "count": .stringConvertible(12), "list": ["a", "b"]])
        close(fds[1])
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = read(fds[0], &bytes, bytes.count)
        let line = Array(bytes[0..<count])
        #expect(line.last == 0x0A)
        #expect(line.dropLast().contains(0x0A) == false)
        let parsed = try JSONParser.parse(Array(line.dropLast()))
        let keys = parsed.objectValue?.map(\.0)
        #expect(keys == ["timestamp", "level", "message", "count", "job", "list", "run"])
        #expect(parsed["level"] == "info" && parsed["message"] == "run recorded\nsecond line")
        #expect(parsed["count"] == .int(12) && parsed["job"] == "nightly \"db\"" && parsed["list"] == ["a", "b"] && parsed["run"] == "7")
    }
}
