import BatchdCore
import BatchdHandlers
import BatchdTestKit
import Foundation
import Logging
import Testing

/// Runs a checker job the way `batchd once` does (real history files and state file in a
/// temporary folder), keeping every line the daemon's log would have shown, so that tests can
/// read the record, the state and the log of each run.
final class CheckerHarness: Sendable {
    let folder: String
    let config: BatchConfig
    let history: JSONLinesHistoryStore
    let log = CapturedLog()

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
        let before = log.count
        let logger = log.logger(label: "batchd")
        let record = try await Engine.runOnce(try #require(config.job(named: job)), config: config, history: history,
                                              logger: logger, environment: environment)
        let statePath = "\(config.stateDirectory)/state/\(job).json"
        let stateText = (try? String(contentsOfFile: statePath, encoding: .utf8)) ?? ""
        return Run(record: record, log: Array(log.lines.dropFirst(before)), state: try? JSONParser.parse(stateText),
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


extension JSONValue {
    /// `result.updates` etc. as plain arrays of objects, for comparisons.
    var list: [JSONValue] { arrayValue ?? [] }
}
