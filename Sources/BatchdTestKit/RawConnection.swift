import Foundation

/// A plain TCP connection to 127.0.0.1, for tests that must send what no HTTP client would:
/// broken request lines, huge heads, bodies that never end, a byte a second.
public final class RawConnection: @unchecked Sendable {  // used from one thread at a time
    public let fd: Int32

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Connects, waiting at most `timeout` for the connection (and for each later read).
    public init(port: Int, timeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failed(description: "socket: \(String(cString: strerror(errno)))") }
        var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            // No close here: every stored property is set, so a throw runs deinit, which
            // closes `fd`. Closing it twice once closed another thread's socket (a test
            // server's listener) that had been given the same number in between.
            throw Failed(description: "connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
    }

    deinit {
        close(fd)
    }

    /// Sends all of `bytes`; false when the peer has gone (or the send timed out).
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 {
                if sent < 0 && errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }

    @discardableResult
    public func send(_ text: String) -> Bool {
        send(Array(text.utf8))
    }

    /// Everything the peer sends until it closes the connection (or a read times out).
    public func receiveUntilClosed() -> [UInt8] {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = recv(fd, &chunk, chunk.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return data }
            data += chunk[0..<count]
        }
    }

    /// One whole HTTP/1.1 answer (head, then `content-length` bytes of body), or nil when the
    /// connection closes or a read times out first.
    public func receiveResponse() -> RawResponse? {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            if let response = RawResponse(parsing: data) { return response }
            let count = recv(fd, &chunk, chunk.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            data += chunk[0..<count]
        }
    }

    /// True when the peer has closed the connection (a read returns end of file).
    public func peerClosed() -> Bool {
        var byte: UInt8 = 0
        while true {
            let count = recv(fd, &byte, 1, 0)
            if count < 0 && errno == EINTR { continue }
            return count == 0 || (count < 0 && errno == ECONNRESET)
        }
    }

    /// Sends `request` on a new connection and reads one answer.
    public static func exchange(port: Int, _ request: String, timeout: Double = 5) throws -> RawResponse? {
        let connection = try RawConnection(port: port, timeout: timeout)
        connection.send(request)
        return connection.receiveResponse()
    }
}

/// An HTTP/1.1 answer as bytes came in: status, headers (names in lower case), body.
public struct RawResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    init?(parsing data: [UInt8]) {
        guard let headEnd = data.firstRange(of: [13, 10, 13, 10]) else { return nil }
        let lines = String(decoding: data[..<headEnd.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        guard data.count - headEnd.upperBound >= length else { return nil }
        self.status = status
        self.headers = headers
        body = Array(data[headEnd.upperBound..<(headEnd.upperBound + length)])
    }
}
