import FoundationEssentials

/// Where the fields of one JSON object go, in order: a value that lists its fields once, through
/// this, can be both a `JSONValue` (`JSONPairs`) and bytes written straight (`JSONObjectWriter`).
public protocol JSONFields {
    mutating func field(_ name: String, _ text: String)
    /// A string, or `null`.
    mutating func field(_ name: String, _ text: String?)
    mutating func field(_ name: String, _ number: Int64)
    mutating func field(_ name: String, _ value: JSONValue)
}

/// The fields as `JSONValue` pairs, for `.object`.
public struct JSONPairs: JSONFields {
    public private(set) var pairs: [(String, JSONValue)] = []

    public init() {}

    public mutating func field(_ name: String, _ text: String) { pairs.append((name, .string(text))) }
    public mutating func field(_ name: String, _ text: String?) { pairs.append((name, text.map(JSONValue.string) ?? .null)) }
    public mutating func field(_ name: String, _ number: Int64) { pairs.append((name, .int(number))) }
    public mutating func field(_ name: String, _ value: JSONValue) { pairs.append((name, value)) }
}

/// Writes one JSON object straight into bytes, field by field, for the lines written on every
/// run (history records, the daemon's log lines): building a `JSONValue` tree first (an array
/// of pairs, a string per number) cost more than writing the line. The bytes are exactly what
/// `JSONWriter` writes for the same object.
public struct JSONObjectWriter: JSONFields {
    private var bytes: [UInt8]
    private var empty = true

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Writes into `buffer`'s memory (emptied, its capacity kept): status.json is megabytes with
    /// thousands of jobs, and a fresh buffer for each rewrite was that much in page faults.
    public init(reusing buffer: [UInt8]) {
        bytes = buffer
        bytes.removeAll(keepingCapacity: true)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        JSONWriter.writeString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func field(_ name: String, _ text: String) {
        key(name)
        JSONWriter.writeString(text, to: &bytes)
    }

    /// A string, or `null`.
    public mutating func field(_ name: String, _ text: String?) {
        key(name)
        if let text { JSONWriter.writeString(text, to: &bytes) } else { bytes.append(contentsOf: "null".utf8) }
    }

    public mutating func field(_ name: String, _ number: Int64) {
        key(name)
        JSONWriter.writeInteger(number, to: &bytes)
    }

    public mutating func field(_ name: String, _ value: JSONValue) {
        key(name)
        JSONWriter.write(value, to: &bytes)
    }

    /// A nested object, its fields written by `fill`, or `null` when `fill` is nil.
    public mutating func object(_ name: String, _ fill: ((inout JSONObjectWriter) -> Void)?) {
        key(name)
        guard let fill else {
            bytes.append(contentsOf: "null".utf8)
            return
        }
        bytes.append(UInt8(ascii: "{"))
        empty = true
        fill(&self)
        bytes.append(UInt8(ascii: "}"))
        empty = false
    }

    /// An array of objects, one for each item, its fields written by `fill`.
    public mutating func objects<Items: Sequence>(_ name: String, _ items: Items, _ fill: (inout JSONObjectWriter, Items.Element) -> Void) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes.append(UInt8(ascii: "{"))
            empty = true
            fill(&self, item)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "]"))
        empty = false
    }

    public mutating func field(_ name: String, _ flag: Bool) {
        key(name)
        bytes.append(contentsOf: (flag ? "true" : "false").utf8)
    }

    /// A timestamp (`Timestamp.iso8601`), or `null`.
    public mutating func field(_ name: String, _ date: Date?) {
        key(name)
        if let date { Timestamp.writeISO8601(date, to: &bytes) } else { bytes.append(contentsOf: "null".utf8) }
    }

    /// The object, closed, with `terminator` after it (a newline for a line of a file).
    public mutating func finish(terminator: UInt8? = nil) -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        if let terminator { bytes.append(terminator) }
        return bytes
    }
}
