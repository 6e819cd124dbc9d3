import FoundationEssentials
import Glibc

/// One finished run: exactly one line of `<stateDir>/runs/<job>.jsonl` (SPEC section 4).
public struct RunRecord: Sendable, Equatable {
    public var id: Int64
    /// The job's name (the seed called it the job type; the field keeps the seed's name).
    public var jobType: String
    public var displayName: String
    public var status: RunStatus
    public var trigger: RunTrigger
    public var attempt: Int
    public var startedAt: Date
    public var completedAt: Date
    public var itemsChecked: Int
    public var itemsUpdated: Int
    public var error: String?
    public var result: JSONValue
    public var logs: [LogEntry]

    public init(id: Int64, jobType: String, displayName: String, status: RunStatus, trigger: RunTrigger, attempt: Int,
                startedAt: Date, completedAt: Date, itemsChecked: Int = 0, itemsUpdated: Int = 0,
                error: String? = nil, result: JSONValue = .object([]), logs: [LogEntry] = []) {
        self.id = id
        self.jobType = jobType
        self.displayName = displayName
        self.status = status
        self.trigger = trigger
        self.attempt = attempt
        self.startedAt = startedAt.roundedToMilliseconds
        self.completedAt = completedAt.roundedToMilliseconds
        self.itemsChecked = itemsChecked
        self.itemsUpdated = itemsUpdated
        self.error = error
        self.result = result
        self.logs = logs
    }

    public var durationMs: Int64 {
        Int64(((completedAt.timeIntervalSince1970 - startedAt.timeIntervalSince1970) * 1000).rounded())
    }

    /// The record's fields in SPEC order, listed once for both forms below.
    private func fields<Fields: JSONFields>(into object: inout Fields) {
        object.field("id", id)
        object.field("jobType", jobType)
        object.field("displayName", displayName)
        object.field("status", status.rawValue)
        object.field("trigger", trigger.rawValue)
        object.field("attempt", Int64(attempt))
        object.field("startedAt", Timestamp.iso8601(startedAt))
        object.field("completedAt", Timestamp.iso8601(completedAt))
        object.field("durationMs", durationMs)
        object.field("itemsChecked", Int64(itemsChecked))
        object.field("itemsUpdated", Int64(itemsUpdated))
        object.field("error", error)
        object.field("result", result)
        object.field("logs", .array(logs.map(\.json)))
    }

    public var json: JSONValue {
        var pairs = JSONPairs()
        fields(into: &pairs)
        return .object(pairs.pairs)
    }

    /// The record as one line of JSON, newline included: what one `write` appends. The same
    /// bytes as `json` written by `JSONWriter`, without building the tree first.
    public var line: [UInt8] {
        var object = JSONObjectWriter(capacity: 512)
        fields(into: &object)
        return object.finish(terminator: 0x0A)
    }

    public struct DecodingError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a record back from its JSON (a history line, or an API answer).
    public init(json: JSONValue) throws(DecodingError) {
        func field<T>(_ key: String, _ read: (JSONValue) -> T?) throws(DecodingError) -> T {
            guard let value = json[key], let decoded = read(value) else {
                throw DecodingError(description: "run record: missing or invalid '\(key)'")
            }
            return decoded
        }
        id = try field("id") { $0.intValue }
        jobType = try field("jobType") { $0.stringValue }
        displayName = try field("displayName") { $0.stringValue }
        status = try field("status") { $0.stringValue.flatMap(RunStatus.init) }
        trigger = try field("trigger") { $0.stringValue.flatMap(RunTrigger.init) }
        attempt = Int(try field("attempt") { $0.intValue })
        startedAt = try field("startedAt") { $0.stringValue.flatMap(Timestamp.parse) }
        completedAt = try field("completedAt") { $0.stringValue.flatMap(Timestamp.parse) }
        itemsChecked = Int(try field("itemsChecked") { $0.intValue })
        itemsUpdated = Int(try field("itemsUpdated") { $0.intValue })
        error = json["error"]?.stringValue
        result = json["result"] ?? .object([])
        logs = (json["logs"]?.arrayValue ?? []).compactMap(LogEntry.init(json:))
    }

    public init(line: some Collection<UInt8>) throws(DecodingError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(line))
        } catch {
            throw DecodingError(description: "run record: \(error)")
        }
        try self.init(json: value)
    }
}

public enum RunStatus: String, Sendable, CaseIterable {
    case completed, failed, timeout, cancelled, interrupted

    public var isSuccess: Bool { self == .completed }
}

public enum RunTrigger: String, Sendable, CaseIterable {
    case schedule, manual, retry
    case catchUp = "catch-up"
    case start, dependency
}

/// One log entry of a run, as the seed's logger recorded it.
public struct LogEntry: Sendable, Equatable {
    public var timestamp: Date
    public var level: LogLevel
    public var message: String
    public var metadata: [(String, JSONValue)]

    public init(timestamp: Date, level: LogLevel, message: String, metadata: [(String, JSONValue)] = []) {
        self.timestamp = timestamp.roundedToMilliseconds
        self.level = level
        self.message = message
        self.metadata = metadata
    }

    public static func == (a: LogEntry, b: LogEntry) -> Bool {
        a.timestamp == b.timestamp && a.level == b.level && a.message == b.message
            && JSONValue.object(a.metadata) == JSONValue.object(b.metadata)
    }

    public var json: JSONValue {
        .object([
            ("timestamp", .string(Timestamp.iso8601(timestamp))),
            ("level", .string(level.rawValue)),
            ("message", .string(message)),
            ("metadata", .object(metadata)),
        ])
    }

    init?(json: JSONValue) {
        guard let timestamp = json["timestamp"]?.stringValue.flatMap(Timestamp.parse),
              let level = json["level"]?.stringValue.flatMap(LogLevel.init),
              let message = json["message"]?.stringValue else { return nil }
        self.init(timestamp: timestamp, level: level, message: message, metadata: json["metadata"]?.objectValue ?? [])
    }
}

extension Date {
    /// Run records keep milliseconds; rounding once on the way in makes a record equal to itself
    /// after a trip through its JSON line.
    public var roundedToMilliseconds: Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }

    /// The nearest whole millisecond, for a time that stands for a planned one (a next run read
    /// back through the wall clock may come out a hair before it).
    var nearestMillisecond: Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded() / 1000)
    }
}
