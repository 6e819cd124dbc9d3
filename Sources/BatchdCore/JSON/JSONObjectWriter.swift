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

    /// The object, closed, with `terminator` after it (a newline for a line of a file).
    public mutating func finish(terminator: UInt8? = nil) -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        if let terminator { bytes.append(terminator) }
        return bytes
    }
}
