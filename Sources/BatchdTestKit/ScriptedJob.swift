import BatchdCore
import Foundation

/// `type: scripted`: a job whose behaviour batch.yaml spells out, for engine tests.
///
/// `behaviour: succeed` (default), `fail`, `hang` (until cancelled) or `throw` (a plain Swift
/// error); `failAttempts: N` fails the first N attempts of each run-and-retries sequence;
/// `items: N` reports N items checked.
public struct ScriptedJob: JobHandler {
    public static let typeName = "scripted"
    public static let displayName = "Scripted test job"

    public enum Behaviour: String, Sendable, CaseIterable {
        case succeed, fail, hang, `throw`
    }

    struct PlainError: Error, CustomStringConvertible {
        var description: String { "a plain Swift error from the scripted job" }
    }

    public var behaviour: Behaviour
    public var failAttempts: Int
    public var items: Int

    public init?(settings: ConfigMapping) {
        behaviour = settings.value("behaviour")?.asChoice(Behaviour.allCases.map(\.rawValue)).flatMap(Behaviour.init) ?? .succeed
        failAttempts = settings.value("failAttempts")?.asInt(in: 0...100) ?? 0
        items = settings.value("items")?.asInt(in: 0...1_000_000) ?? 0
    }

    public func run(_ context: JobContext) async throws -> JobResult {
        context.logger.info("scripted run", metadata: ["behaviour": "\(behaviour.rawValue)"])
        if context.attempt <= failAttempts {
            throw JobFailure("scripted failure on attempt \(context.attempt)")
        }
        switch behaviour {
        case .succeed:
            return JobResult(itemsChecked: items, itemsUpdated: 0, result: ["ok": true])
        case .fail:
            throw JobFailure("scripted failure", partial: JobResult(itemsChecked: items))
        case .throw:
            throw PlainError()
        case .hang:
            // Ends only by cancellation: a timeout, `cancel` or shutdown.
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
