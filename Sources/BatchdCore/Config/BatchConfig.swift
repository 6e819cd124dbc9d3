/// The whole of batch.yaml after validation. Immutable; a reload makes a new one.
public struct BatchConfig: Sendable {
    /// The file as the user named it (for messages) and its folder (relative paths start there).
    public var path: String
    public var directory: String
    /// Absolute path of the state directory (history, handler state, status).
    public var stateDirectory: String
    public var maxConcurrentJobs: Int
    public var shutdownGrace: Duration
    public var http: HTTPSettings?
    public var history: HistorySettings
    public var logFormat: LogFormat
    public var logLevel: LogLevel
    /// Jobs in file order.
    public var jobs: [JobConfig] {
        didSet { positions = Self.positions(of: jobs) }
    }

    /// Where each job is in `jobs`: looked up once per finished run (notifications), which
    /// with ten thousand jobs must not be a walk through all of them.
    private var positions: [String: Int]

    init(path: String, directory: String, stateDirectory: String, maxConcurrentJobs: Int, shutdownGrace: Duration,
         http: HTTPSettings?, history: HistorySettings, logFormat: LogFormat, logLevel: LogLevel, jobs: [JobConfig]) {
        self.path = path
        self.directory = directory
        self.stateDirectory = stateDirectory
        self.maxConcurrentJobs = maxConcurrentJobs
        self.shutdownGrace = shutdownGrace
        self.http = http
        self.history = history
        self.logFormat = logFormat
        self.logLevel = logLevel
        self.jobs = jobs
        positions = Self.positions(of: jobs)
    }

    public func job(named name: String) -> JobConfig? {
        positions[name].map { jobs[$0] }
    }

    private static func positions(of jobs: [JobConfig]) -> [String: Int] {
        Dictionary(jobs.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

public struct HTTPSettings: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// The environment variable holding the bearer token that unlocks POST trigger/cancel.
    public var tokenEnv: String?
    /// Connections beyond this many are answered 503 and closed.
    public var maxConnections: Int = 512
    /// A request must arrive whole within this time from its first byte (slow clients are dropped).
    public var requestTimeout: Duration = .seconds(10)
    /// A kept-alive connection with no request for this long is closed.
    public var idleTimeout: Duration = .seconds(60)

    public init(host: String, port: Int, tokenEnv: String? = nil) {
        self.host = host
        self.port = port
        self.tokenEnv = tokenEnv
    }

    public var isLoopback: Bool {
        host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
    }
}

public struct HistorySettings: Sendable, Hashable {
    public var maxRunsPerJob: Int
    public var maxLogEntriesPerRun: Int
    public var fsync: Bool

    public init(maxRunsPerJob: Int = 10_000, maxLogEntriesPerRun: Int = 1_000, fsync: Bool = true) {
        self.maxRunsPerJob = maxRunsPerJob
        self.maxLogEntriesPerRun = maxLogEntriesPerRun
        self.fsync = fsync
    }
}

public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

public enum LogLevel: String, Sendable, CaseIterable, Comparable {
    case debug, info, warn, error

    private var rank: Int { Self.allCases.firstIndex(of: self)! }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }
}
