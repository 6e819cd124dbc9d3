import Foundation
import Synchronization

/// A small HTTP/1.1 server on 127.0.0.1 (a port the kernel picks), for tests that need a real
/// peer for libcurl: each request is answered by `respond` (each connection on a thread of its
/// own), and every request is kept for the test to inspect. A response can also misbehave the
/// ways real servers do: hang up halfway through, or never answer. Not for production: no
/// keep-alive, no TLS.
public final class LoopbackHTTPServer: @unchecked Sendable {  // fd and port set once in init
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    public struct Response: Sendable {
        public enum Behaviour: Sendable {
            case normal
            /// Sends the head and this many bytes of the body (whose full length the head
            /// announces), then closes the connection.
            case hangUp(afterBodyBytes: Int)
            /// Reads the request and never answers (until the server goes away).
            case silence
        }

        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public var behaviour: Behaviour

        public init(status: Int, headers: [(String, String)] = [], body: String = "", behaviour: Behaviour = .normal) {
            self.status = status
            self.headers = headers
            self.body = Array(body.utf8)
            self.behaviour = behaviour
        }
    }

    public let port: UInt16
    private let connections: Connections

    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var requests: [Request] { connections.received.withLock { $0 } }

    /// `greeting`: bytes sent the moment a connection is accepted, before reading anything (a
    /// plain-text answer to a TLS handshake, as a server that does not speak TLS gives).
    public init(greeting: String? = nil, respond: @escaping @Sendable (Request) -> Response) throws {
        let (fd, port) = try Self.listen()
        self.port = port
        connections = Connections(fd: fd, greeting: greeting.map { Array($0.utf8) }, respond: respond)
        let thread = Thread { [connections] in connections.acceptLoop() }
        thread.start()
    }

    /// Stops accepting: the accept loop sees the shut-down socket and closes it itself (closing
    /// it here could close another thread's descriptor, given the same number meanwhile).
    deinit {
        connections.stopped.store(true, ordering: .relaxed)
        shutdown(connections.fd, Int32(SHUT_RDWR))
    }

    /// A socket listening on 127.0.0.1, on a port the kernel picks.
    private static func listen() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }
}

/// The listening socket and what answers on it; the accept thread holds it, not the server, so
/// that the server can go away (and stop it) when its test ends.
private final class Connections: Sendable {
    let fd: Int32
    let greeting: [UInt8]?
    let respond: @Sendable (LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response
    let received = Mutex<[LoopbackHTTPServer.Request]>([])
    let stopped = Atomic<Bool>(false)

    init(fd: Int32, greeting: [UInt8]?, respond: @escaping @Sendable (LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response) {
        self.fd = fd
        self.greeting = greeting
        self.respond = respond
    }

    func acceptLoop() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if stopped.load(ordering: .relaxed) { break }
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            let thread = Thread { [self] in
                if let greeting {
                    _ = greeting.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                } else {
                    handle(client)
                }
                close(client)
            }
            thread.start()
        }
        close(fd)
    }

    private func handle(_ client: Int32) {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var headEnd: Int?
        while headEnd == nil {
            let count = read(client, &chunk, chunk.count)
            guard count > 0 else { return }
            data += chunk[0..<count]
            headEnd = data.firstRange(of: [13, 10, 13, 10])?.upperBound
        }
        let head = String(decoding: data[0..<headEnd!], as: UTF8.self).split(separator: "\r\n")
        let requestLine = head.first?.split(separator: " ") ?? []
        guard requestLine.count >= 2 else { return }
        let headers = head.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
        var body = Array(data[headEnd!...])
        while body.count < length {
            let count = read(client, &chunk, chunk.count)
            guard count > 0 else { break }
            body += chunk[0..<count]
        }
        let request = LoopbackHTTPServer.Request(method: String(requestLine[0]), path: String(requestLine[1]), headers: headers, body: body)
        received.withLock { $0.append(request) }
        let response = respond(request)
        if case .silence = response.behaviour {
            // Holds the connection open, saying nothing, until the client gives up.
            var byte: UInt8 = 0
            while !stopped.load(ordering: .relaxed), read(client, &byte, 1) > 0 {}
            return
        }
        var text = "HTTP/1.1 \(response.status) Status\r\nContent-Length: \(response.body.count)\r\nConnection: close\r\n"
        for (name, value) in response.headers { text += "\(name): \(value)\r\n" }
        var bytes = Array((text + "\r\n").utf8) + (request.method == "HEAD" ? [] : response.body)
        if case .hangUp(let sent) = response.behaviour {
            bytes = Array(bytes.prefix(bytes.count - response.body.count + min(sent, response.body.count)))
        }
        var offset = 0
        while offset < bytes.count {
            // send, not write: a client that has hung up is an error here, not a SIGPIPE for the test process
            let written = bytes[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return }
            offset += written
        }
    }
}
