import NIOCore
import NIOHTTP1

/// One whole request as the API sees it: method, decoded path and query, headers, body.
public struct APIRequest: Sendable {
    public var method: HTTPMethod
    /// The percent-decoded path, without the query.
    public var path: String
    /// Query parameters, percent-decoded (`+` is a space); a repeated name keeps its last value.
    public var query: [String: String]
    public var headers: HTTPHeaders
    public var body: ByteBuffer?

    public struct Malformed: Error, Sendable {
        public var reason: String
    }

    public init(method: HTTPMethod, uri: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil) throws(Malformed) {
        self.method = method
        self.headers = headers
        self.body = body
        let target = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard let rawPath = target.first, rawPath.hasPrefix("/") else {
            throw Malformed(reason: "the request target must be a path starting with '/'")
        }
        guard let decoded = Self.percentDecoded(rawPath, plusIsSpace: false) else {
            throw Malformed(reason: "the path has a malformed percent-escape")
        }
        path = decoded
        query = [:]
        if target.count == 2 {
            for pair in target[1].split(separator: "&") where !pair.isEmpty {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = Self.percentDecoded(parts[0], plusIsSpace: true),
                      let value = Self.percentDecoded(parts.count == 2 ? parts[1] : "", plusIsSpace: true) else {
                    throw Malformed(reason: "the query has a malformed percent-escape")
                }
                query[name] = value
            }
        }
    }

    /// Percent-decoding that refuses broken escapes and bytes that are not UTF-8.
    static func percentDecoded(_ text: Substring, plusIsSpace: Bool) -> String? {
        // Most paths and parameters have nothing to decode.
        if !text.utf8.contains(where: { $0 == UInt8(ascii: "%") || ($0 == UInt8(ascii: "+") && plusIsSpace) }) {
            return String(text)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
