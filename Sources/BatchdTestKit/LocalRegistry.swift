import Foundation

/// Debian's `docker-registry` (CNCF distribution, the reference OCI registry) on 127.0.0.1,
/// started by the test that needs it, storing in a temporary folder. Images are pushed through
/// the registry API itself (a config blob and a manifest are enough; no Docker engine).
public final class LocalRegistry: @unchecked Sendable {  // set once in init
    public static let binary = "/usr/bin/docker-registry"
    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    public let port: Int
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    private let folder: String
    private let process: Subprocess

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Starts the registry and returns once it answers. Blocking (plain sockets, no Swift
    /// concurrency): end-to-end tests block the cooperative pool while they wait for
    /// processes, and async tests call this through `OffPool`.
    public init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("batchd-registry-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: "\(folder)/data", withIntermediateDirectories: true)
        port = try Self.freePort()
        let config = """
        version: 0.1
        log: { level: error, accesslog: { disabled: true } }
        storage: { filesystem: { rootdirectory: \(folder)/data }, delete: { enabled: true } }
        http: { addr: 127.0.0.1:\(port), secret: batchd-test }
        """
        try config.write(toFile: "\(folder)/config.yml", atomically: true, encoding: .utf8)
        process = try Subprocess(Self.binary, ["serve", "\(folder)/config.yml"], stderr: .file("\(folder)/log"))
        // Up when /v2/ answers; a registry that exits meanwhile has said why in its log.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, process.isRunning {
            if (try? request("GET", "/v2/"))?.status == 200 { return }
            usleep(20_000)
        }
        let log = (try? String(contentsOfFile: "\(folder)/log", encoding: .utf8)) ?? ""
        stop()
        throw Failure(description: "docker-registry did not come up on port \(port): \(log)")
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: folder)
    }

    public func stop() {
        process.terminate()
        process.wait()
    }

    /// Pushes a one-config image as `repository:tag` and returns its manifest digest. A different
    /// `content` gives a different image; pushing to an existing tag moves the tag.
    @discardableResult
    public func push(_ repository: String, tag: String, content: String) throws -> String {
        let config = Array(#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]},"batchd-test":"\#(content)"}"#.utf8)
        let configDigest = "sha256:" + SHA256.hex(config)
        let upload = try request("POST", "/v2/\(repository)/blobs/uploads/")
        guard upload.status == 202, var location = upload.headers["location"] else {
            throw Failure(description: "blob upload refused: \(upload.status) \(upload.bodyText)")
        }
        if location.hasPrefix(baseURL) { location = String(location.dropFirst(baseURL.count)) }
        location += (location.contains("?") ? "&" : "?") + "digest=\(configDigest)"
        let put = try request("PUT", location, contentType: "application/octet-stream", body: config)
        guard put.status == 201 else { throw Failure(description: "blob refused: \(put.status) \(put.bodyText)") }
        let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[]}"#
        let pushed = try request("PUT", "/v2/\(repository)/manifests/\(tag)", contentType: "application/vnd.oci.image.manifest.v1+json", body: Array(manifest.utf8))
        guard pushed.status == 201, let digest = pushed.headers["docker-content-digest"] else {
            throw Failure(description: "manifest refused: \(pushed.status) \(pushed.bodyText)")
        }
        return digest
    }

    /// One request on a connection of its own, over a plain socket.
    private func request(_ method: String, _ path: String, contentType: String? = nil, body: [UInt8] = []) throws -> RawResponse {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        let connection = try RawConnection(port: port, timeout: 5)
        connection.send(Array((head + "\r\n").utf8) + body)
        guard let response = connection.receiveResponse() else { throw Failure(description: "no answer to \(method) \(path)") }
        return response
    }

    /// A port nobody listens on now (the kernel's pick for a socket bound and closed again).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure(description: "cannot find a free port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

extension LocalRegistry {
    /// `push`, for async tests: off the cooperative pool.
    @discardableResult
    public func pushed(_ repository: String, tag: String, content: String) async throws -> String {
        try await OffPool.run { try self.push(repository, tag: tag, content: content) }
    }
}
