import FoundationEssentials
import Glibc

/// Decodes the top level of batch.yaml and hands each job to `JobDecoder`.
struct ConfigDecoder {
    let registry: JobTypeRegistry
    let log: DiagnosticLog
    let path: String

    func decode(_ root: YAMLNode) -> BatchConfig? {
        guard case .mapping = root.content else {
            log.error("the top level must be a mapping with a 'jobs:' key, not \(root.kindDescription)", at: root.mark)
            return nil
        }
        let top = ConfigMapping(node: root, path: "", log: log)
        let directory = Self.directory(of: path)

        let stateDir = top.value("stateDir")?.asNonEmptyString() ?? ".batchd"
        let maxConcurrentJobs = top.value("maxConcurrentJobs")?.asInt(in: 1...1024) ?? 4
        let shutdownGrace = top.value("shutdownGrace")?.asDuration() ?? .seconds(30)
        let http = top.value("http")?.asMapping().flatMap(decodeHTTP)
        let history = top.value("history")?.asMapping().map(decodeHistory) ?? HistorySettings()
        let logFormat = top.value("logFormat")?.asChoice(LogFormat.allCases.map(\.rawValue)).flatMap(LogFormat.init) ?? .text
        let logLevel = top.value("logLevel")?.asChoice(LogLevel.allCases.map(\.rawValue)).flatMap(LogLevel.init) ?? .info

        let jobDecoder = JobDecoder(registry: registry, log: log)
        let defaults = top.value("defaults")?.asMapping()
        if let defaults {
            jobDecoder.checkDefaults(defaults)
        }
        var jobs: [JobConfig] = []
        if let jobsValue = top.required("jobs", "a mapping from job names to their settings"),
           case .mapping(let pairs) = jobsValue.node.content {
            jobs = pairs.compactMap { jobDecoder.decode(key: $0.key, value: $0.value, defaults: defaults) }
            DependencyCheck(log: log).check(jobDecoder.references)
        } else if let jobsValue = top.value("jobs"), !jobsValue.node.isNull {
            _ = jobsValue.asMapping()  // reports the wrong type
        }
        top.reportUnknownKeys()

        return BatchConfig(
            path: path, directory: directory,
            stateDirectory: Self.resolve(stateDir, against: directory),
            maxConcurrentJobs: maxConcurrentJobs, shutdownGrace: shutdownGrace,
            http: http, history: history, logFormat: logFormat, logLevel: logLevel, jobs: jobs
        )
    }

    private func decodeHTTP(_ section: ConfigMapping) -> HTTPSettings? {
        let listen = section.required("listen", "host:port, e.g. 127.0.0.1:8080")
        let tokenEnv = section.value("tokenEnv")?.asEnvironmentName()
        let maxConnections = section.value("maxConnections")?.asInt(in: 1...100_000)
        let requestTimeout = section.value("requestTimeout")?.asDuration(atLeast: .milliseconds(100))
        let idleTimeout = section.value("idleTimeout")?.asDuration(atLeast: .milliseconds(100))
        section.reportUnknownKeys()
        guard let listen, let text = listen.asNonEmptyString() else { return nil }
        guard let (host, port) = ListenAddress.parse(text) else {
            listen.error("expected host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080, [::1]:8080 or 8080 for loopback (got '\(text)')")
            return nil
        }
        var settings = HTTPSettings(host: host, port: port, tokenEnv: tokenEnv)
        if let maxConnections { settings.maxConnections = maxConnections }
        if let requestTimeout { settings.requestTimeout = requestTimeout }
        if let idleTimeout { settings.idleTimeout = idleTimeout }
        return settings
    }

    private func decodeHistory(_ section: ConfigMapping) -> HistorySettings {
        var settings = HistorySettings()
        if let value = section.value("maxRunsPerJob")?.asInt(in: 1...100_000_000) { settings.maxRunsPerJob = value }
        if let value = section.value("maxLogEntriesPerRun")?.asInt(in: 0...1_000_000) { settings.maxLogEntriesPerRun = value }
        if let value = section.value("fsync")?.asBool() { settings.fsync = value }
        section.reportUnknownKeys()
        return settings
    }

    /// The folder relative paths in the file start from: the file's own folder.
    static func directory(of path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return PathText.standardized(PathText.directory(of: absolute))
    }

    static func resolve(_ path: String, against directory: String) -> String {
        let joined = path.hasPrefix("/") ? path : directory + "/" + path
        return PathText.standardized(joined)
    }
}

/// `host:port` and `[ipv6]:port`; a bare `port` or `:port` is on loopback (127.0.0.1), so
/// that leaving the host out never opens the listener to the network.
enum ListenAddress {
    static func parse(_ text: String) -> (host: String, port: Int)? {
        if let port = Int(text.hasPrefix(":") ? String(text.dropFirst()) : text) {
            return (0...65_535).contains(port) ? ("127.0.0.1", port) : nil
        }
        var host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, !host.contains(" "), let port = Int(portText), (0...65_535).contains(port) else { return nil }
        return (String(host), port)
    }
}
