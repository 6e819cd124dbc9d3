import FoundationEssentials
import Glibc

/// Reads batch.yaml: file → libyaml → node tree → validated `BatchConfig`, or every problem found.
public struct ConfigLoader: Sendable {
    /// Files larger than this are refused before parsing: no real batch.yaml comes near it.
    public static let maximumFileSize = 4 << 20

    public let registry: JobTypeRegistry

    public init(registry: JobTypeRegistry) {
        self.registry = registry
    }

    /// The file could not be read at all (`batchd validate` exits 2 for this).
    public struct ReadError: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var reason: String
        public var description: String { "\(path): error: cannot read the configuration: \(reason)" }
    }

    /// The file was read but is not a valid configuration (`batchd validate` exits 1 for this).
    public struct Invalid: Error, CustomStringConvertible, Sendable {
        public var diagnostics: [Diagnostic]
        public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
    }

    public enum Outcome: Sendable {
        case valid(BatchConfig, bytes: [UInt8])
        case invalid(Invalid, bytes: [UInt8])
        case unreadable(ReadError)
    }

    /// Loads `path` (as the user wrote it: it appears that way in every message).
    public func load(path: String) -> Outcome {
        switch ConfigFile.read(path, limit: Self.maximumFileSize) {
        case .success(let bytes): return outcome(of: bytes, path: path)
        case .failure(let error): return .unreadable(error)
        }
    }

    /// `load(path:)`, except that a file still holding `known` (the running configuration's
    /// bytes) is not parsed again: nil. The daemon's watcher reports every file created, renamed
    /// or deleted beside batch.yaml (editors' swap files, a ConfigMap's `..data`), and most of
    /// those leave batch.yaml as it was. With ten thousand jobs a parse costs about 220 ms of
    /// CPU; reading the file and comparing it, too little to show in five such events (10 ms).
    public func load(path: String, unlessItHolds known: [UInt8]) -> Outcome? {
        switch ConfigFile.read(path, limit: Self.maximumFileSize) {
        case .success(let bytes): return bytes == known ? nil : outcome(of: bytes, path: path)
        case .failure(let error): return .unreadable(error)
        }
    }

    private func outcome(of bytes: [UInt8], path: String) -> Outcome {
        switch load(bytes: bytes, path: path) {
        case .success(let config): return .valid(config, bytes: bytes)
        case .failure(let invalid): return .invalid(invalid, bytes: bytes)
        }
    }

    /// Validates configuration text that claims to come from `path`.
    public func load(bytes: [UInt8], path: String) -> Result<BatchConfig, Invalid> {
        let log = DiagnosticLog(file: path)
        let root: YAMLNode?
        if bytes.count > Self.maximumFileSize {
            log.error("the file is larger than \(Self.maximumFileSize >> 20) MiB", at: .start)
            root = nil
        } else {
            root = YAMLParser(log: log).parse(bytes)
        }
        var config: BatchConfig?
        if let root {
            config = ConfigDecoder(registry: registry, log: log, path: path).decode(root)
        } else if log.isEmpty {
            log.error("the file is empty; it needs at least a 'jobs:' mapping", at: .start)
        }
        if let config, log.isEmpty {
            return .success(config)
        }
        return .failure(Invalid(diagnostics: log.diagnostics))
    }
}

/// Reading the file with errno-level reasons, since "cannot read" must say why.
enum ConfigFile {
    static func read(_ path: String, limit: Int) -> Result<[UInt8], ConfigLoader.ReadError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.init(path: path, reason: String(cString: strerror(errno)))) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            return .failure(.init(path: path, reason: "it is a directory"))
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.init(path: path, reason: String(cString: strerror(errno))))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { break }  // the loader reports the size with a position
        }
        return .success(bytes)
    }
}
