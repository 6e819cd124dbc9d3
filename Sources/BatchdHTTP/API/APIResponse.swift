import BatchdCore
import NIOCore
import NIOHTTP1

/// One answer: status, content type, extra headers and the body, ready to write.
///
/// Every JSON answer has the seed's envelope: `{"success": true, ...}` or
/// `{"success": false, "error": "..."}`. Error texts say what was wrong with the request and
/// never carry stack traces or file paths.
public struct APIResponse: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var headers: [(String, String)]
    public var body: ByteBuffer

    public init(status: HTTPResponseStatus, contentType: String, headers: [(String, String)] = [], body: ByteBuffer) {
        self.status = status
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }

    public static let jsonType = "application/json; charset=utf-8"

    /// `{"success": true, <fields>}`.
    public static func success(_ fields: [(String, JSONValue)], status: HTTPResponseStatus = .ok) -> APIResponse {
        json(.object([("success", .bool(true))] + fields), status: status)
    }

    /// `{"success": false, "error": message}`.
    public static func failure(_ status: HTTPResponseStatus, _ message: String, headers: [(String, String)] = []) -> APIResponse {
        var response = json(.object([("success", .bool(false)), ("error", .string(message))]), status: status)
        response.headers = headers
        return response
    }

    public static func json(_ value: JSONValue, status: HTTPResponseStatus = .ok) -> APIResponse {
        APIResponse(status: status, contentType: jsonType, body: encode(value))
    }

    static func encode(_ value: JSONValue) -> ByteBuffer {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        JSONWriter.write(value, to: &bytes)
        bytes.append(0x0A)
        return ByteBuffer(bytes: bytes)
    }
}
