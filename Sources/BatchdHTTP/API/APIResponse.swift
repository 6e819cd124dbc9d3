import BatchdCore
import NIOCore
import NIOHTTP1

/// One answer: status, content type, extra headers and the body, ready to write.
///
/// Every JSON answer has the seed's envelope: `{"success": true, ...}` or
/// `{"success": false, "error": "..."}`. Error texts say what was wrong with the request and
/// never carry stack traces or file paths.
public struct APIResponse: Sendable {
    public let status: HTTPResponseStatus
    /// Content type, length and the extra headers, made once: a cached answer is written again
    /// and again with the same head.
    public let headers: HTTPHeaders
    public let body: ByteBuffer

    public init(status: HTTPResponseStatus, contentType: String, headers extra: [(String, String)] = [], body: ByteBuffer) {
        self.status = status
        var headers = HTTPHeaders()
        headers.reserveCapacity(3 + extra.count)
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(body.readableBytes))
        for (name, value) in extra { headers.add(name: name, value: value) }
        self.headers = headers
        self.body = body
    }

    public var contentType: String? { headers.first(name: "content-type") }

    public static let jsonType = "application/json; charset=utf-8"

    /// `{"success": true, <fields>}`.
    public static func success(_ fields: [(String, JSONValue)], status: HTTPResponseStatus = .ok) -> APIResponse {
        json(.object([("success", .bool(true))] + fields), status: status)
    }

    /// `{"success": false, "error": message}`.
    public static func failure(_ status: HTTPResponseStatus, _ message: String, headers: [(String, String)] = []) -> APIResponse {
        json(.object([("success", .bool(false)), ("error", .string(message))]), status: status, headers: headers)
    }

    public static func json(_ value: JSONValue, status: HTTPResponseStatus = .ok, headers: [(String, String)] = []) -> APIResponse {
        APIResponse(status: status, contentType: jsonType, headers: headers, body: encode(value))
    }

    static func encode(_ value: JSONValue) -> ByteBuffer {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        JSONWriter.write(value, to: &bytes)
        bytes.append(0x0A)
        return ByteBuffer(bytes: bytes)
    }
}
