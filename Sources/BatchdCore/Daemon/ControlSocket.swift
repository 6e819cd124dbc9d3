import FoundationEssentials
import Dispatch
import Glibc

/// The daemon's control channel: a Unix socket at `<stateDir>/control.sock`, so that
/// `batchd trigger` and `batchd cancel` reach the daemon with no HTTP listener. One request
/// line (`trigger JOB` or `cancel JOB`), one answer line (`ok MESSAGE` or `error MESSAGE`).
/// Only the socket file's permissions (the state directory's owner) guard it.
public final class ControlSocketServer: @unchecked Sendable {  // fd set once; the thread owns the rest
    public typealias Handler = @Sendable (_ verb: String, _ job: String) async -> (ok: Bool, message: String)

    public let path: String
    private let fd: Int32
    private let handler: Handler

    public init(path: String, handler: @escaping Handler) throws(HistoryError) {
        self.path = path
        self.handler = handler
        unlink(path)  // a stale socket of a crashed daemon; the state lock says no other daemon runs
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HistoryError("cannot create the control socket: \(String(cString: strerror(errno)))") }
        guard var address = UnixAddress(path) else {
            close(fd)
            throw HistoryError("the control socket path is too long (over 107 bytes): \(path); use a shorter stateDir")
        }
        let bound = withUnsafePointer(to: &address.raw) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HistoryError("cannot listen on \(path): \(reason)")
        }
        chmod(path, 0o600)
    }

    public func start() {
        OSThread.start(name: "batchd-control") { [self] in acceptLoop() }
    }

    /// Stops accepting; the socket file is removed so clients see "no daemon".
    public func stop() {
        unlink(path)
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func acceptLoop() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // closed by stop()
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)  // no job's child inherits it
            serve(client)
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var byte: UInt8 = 0
        while request.count < 512, read(client, &byte, 1) == 1, byte != 0x0A {
            request.append(byte)
        }
        let words = String(decoding: request, as: UTF8.self).split(separator: " ", maxSplits: 1).map(String.init)
        let answer: (ok: Bool, message: String)
        if words.count == 2, ["trigger", "cancel"].contains(words[0]) {
            let box = AnswerBox()
            let semaphore = DispatchSemaphore(value: 0)
            let handler = self.handler
            Task {
                box.answer = await handler(words[0], words[1])
                semaphore.signal()
            }
            semaphore.wait()  // this dedicated thread may block; the cooperative pool never does
            answer = box.answer
        } else {
            answer = (false, "bad request; expected 'trigger JOB' or 'cancel JOB'")
        }
        let line = Array("\(answer.ok ? "ok" : "error") \(answer.message)\n".utf8)
        _ = line.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
    }
}

private final class AnswerBox: @unchecked Sendable {  // written before the semaphore signals, read after
    var answer: (ok: Bool, message: String) = (false, "")
}

/// The client side, for `batchd trigger` and `batchd cancel`.
public enum ControlSocketClient {
    public enum Failure: Error, CustomStringConvertible {
        case noDaemon(String)
        case failed(String)

        public var description: String {
            switch self {
            case .noDaemon(let path): "no batchd daemon is running on this state directory (\(path) does not answer)"
            case .failed(let message): message
            }
        }
    }

    public static func send(_ verb: String, job: String, socketPath: String) throws(Failure) -> (ok: Bool, message: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .failed("cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard var address = UnixAddress(socketPath) else { throw .failed("the control socket path is too long: \(socketPath)") }
        let connected = withUnsafePointer(to: &address.raw) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw .noDaemon(socketPath) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = Array("\(verb) \(job)\n".utf8)
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else {
            throw .noDaemon(socketPath)
        }
        var answer: [UInt8] = []
        var byte: UInt8 = 0
        while answer.count < 4096, read(fd, &byte, 1) == 1, byte != 0x0A { answer.append(byte) }
        let text = String(decoding: answer, as: UTF8.self)
        if text.hasPrefix("ok ") { return (true, String(text.dropFirst(3))) }
        if text.hasPrefix("error ") { return (false, String(text.dropFirst(6))) }
        throw .failed("the daemon gave no answer")
    }
}

/// A `sockaddr_un` for a path, or nil when the path does not fit.
struct UnixAddress {
    var raw = sockaddr_un()

    init?(_ path: String) {
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: raw.sun_path) else { return nil }
        raw.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &raw.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
    }
}
