import BatchdCore
import BatchdHandlers
import BatchdTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// Runs a checker job the way `batchd once` does (real history files and state file in a
/// temporary folder), keeping every line the daemon's log would have shown, so that tests can
/// read the record, the state and the log of each run.
final class CheckerHarness: Sendable {
    let folder: String
    let config: BatchConfig
    let history: JSONLinesHistoryStore
    let lines = LogLines()

    struct Run {
        var record: RunRecord
        var log: [String]
        var state: JSONValue?
        var stateText: String
        var historyText: String
    }

    /// One configuration for every run of a test: a checker keeps its token cache across runs,
    /// as it does in the daemon between reloads.
    init(_ yaml: String) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("batchd-checker-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        config = try ConfigLoader(registry: BuiltInJobTypes.registry).load(bytes: Array(yaml.utf8), path: "\(folder)/batch.yaml").get()
        history = try JSONLinesHistoryStore(stateDirectory: config.stateDirectory, settings: config.history)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func run(_ job: String, environment: [String: String] = [:]) async throws -> Run {
        let before = lines.count
        let lines = self.lines
        let logger = Logger(label: "batchd") { _ in CapturingLogHandler(lines: lines) }
        let record = try await Engine.runOnce(try #require(config.job(named: job)), config: config, history: history,
                                              logger: logger, environment: environment)
        let statePath = "\(config.stateDirectory)/state/\(job).json"
        let stateText = (try? String(contentsOfFile: statePath, encoding: .utf8)) ?? ""
        return Run(record: record, log: Array(lines.all.dropFirst(before)), state: try? JSONParser.parse(stateText),
                   stateText: stateText,
                   historyText: (try? String(contentsOfFile: "\(config.stateDirectory)/runs/\(job).jsonl", encoding: .utf8)) ?? "")
    }

    /// Runs the job's handler directly, to see the failure it throws (the retry time of a rate limit).
    func failure(of job: String, environment: [String: String] = [:]) async throws -> JobFailure? {
        let handler = try #require(config.job(named: job)).handler
        let context = JobContext(jobName: job, runID: 0, attempt: 1, trigger: .manual, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
                                 configDirectory: folder, state: HandlerStateFile(path: "\(folder)/direct-\(job).json"), environment: environment)
        do {
            _ = try await handler.run(context)
            return nil
        } catch let failure as JobFailure {
            return failure
        }
    }
}

final class LogLines: Sendable {
    private let store = Mutex<[String]>([])
    func append(_ line: String) { store.withLock { $0.append(line) } }
    var all: [String] { store.withLock { $0 } }
    var count: Int { store.withLock { $0.count } }
}

/// Every log line, with its metadata, as text.
struct CapturingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        lines.append("\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
}

extension JSONValue {
    /// `result.updates` etc. as plain arrays of objects, for comparisons.
    var list: [JSONValue] { arrayValue ?? [] }
}
