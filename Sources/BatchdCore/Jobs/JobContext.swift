import FoundationEssentials
import Glibc
import Logging

/// What a handler gets for one run.
public struct JobContext: Sendable {
    public var jobName: String
    public var runID: Int64
    public var attempt: Int
    public var trigger: RunTrigger
    /// Everything logged here lands in the run record (and on stderr, with job, run and attempt).
    public var logger: Logger
    /// The folder of batch.yaml: relative paths in a job's settings start here.
    public var configDirectory: String
    /// What the handler remembers between runs (`<stateDir>/state/<job>.json`).
    public var state: HandlerStateFile
    /// The daemon's environment, where `...Env` keys are looked up.
    public var environment: [String: String]

    public init(jobName: String, runID: Int64, attempt: Int, trigger: RunTrigger, logger: Logger,
                configDirectory: String, state: HandlerStateFile, environment: [String: String]) {
        self.jobName = jobName
        self.runID = runID
        self.attempt = attempt
        self.trigger = trigger
        self.logger = logger
        self.configDirectory = configDirectory
        self.state = state
        self.environment = environment
    }

    /// A relative path from batch.yaml resolved against its folder.
    public func resolve(_ path: String) -> String {
        PathText.join(configDirectory, path)
    }
}

/// What a finished run reports: the seed's counters and a free-form `result`.
public struct JobResult: Sendable, Equatable {
    public var itemsChecked: Int
    public var itemsUpdated: Int
    public var result: JSONValue

    public init(itemsChecked: Int = 0, itemsUpdated: Int = 0, result: JSONValue = .object([])) {
        self.itemsChecked = itemsChecked
        self.itemsUpdated = itemsUpdated
        self.result = result
    }
}

/// A failed run that still has something to report.
public struct JobFailure: Error, CustomStringConvertible, Sendable {
    public var message: String
    /// What was gathered before the failure; it is kept in the run record.
    public var partial: JobResult?
    /// No retry before this time (a rate limit's reset), whatever the retry policy says.
    public var retryNotBefore: Date?

    public init(_ message: String, partial: JobResult? = nil, retryNotBefore: Date? = nil) {
        self.message = message
        self.partial = partial
        self.retryNotBefore = retryNotBefore
    }

    public var description: String { message }
}

/// A small JSON file a handler keeps between runs, replaced atomically (write, fsync, rename)
/// so that a crash leaves the old or the new state, never half of one.
public struct HandlerStateFile: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public func read() -> JSONValue? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONParser.parse(Array(data))
    }

    public func write(_ value: JSONValue) throws {
        try AtomicFile.write(Array(JSONWriter.string(value).utf8) + [0x0A], to: path)
    }
}

/// Replaces a file in one step: readers see the old content or the new, never a mix.
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func write(_ bytes: [UInt8], to path: String, sync: Bool = true) throws(WriteError) {
        let directory = PathText.directory(of: path)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw WriteError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw WriteError(description: "cannot write \(path): \(reason)")
            }
            offset += written
        }
        if sync, fdatasync(fd) != 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            unlink(temporary)
            throw WriteError(description: "cannot write \(path): \(reason)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw WriteError(description: "cannot replace \(path): \(reason)")
        }
        if sync {
            let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directoryFD >= 0 {
                fsync(directoryFD)
                close(directoryFD)
            }
        }
    }
}
