/// A job type: its name, how it reads its own keys from batch.yaml, and how it runs.
///
/// A handler value is immutable configuration; the engine runs it. To add a type, write one file
/// with a struct conforming to this protocol and list it in `BuiltInJobTypes`.
///
/// Run contract: `run` returns what it checked and changed, or throws to fail the run (a
/// `JobFailure` can carry partial results and a time before which a retry is pointless). It
/// must end promptly when its task is cancelled: that is how timeouts, `batchd cancel` and
/// shutdown stop it. Everything it logs through `context.logger` lands in the run's record.
///
/// Decoding contract: `init?(settings:)` asks `settings` for *every* key the type knows, even
/// after finding a problem, because the keys it asks for are its vocabulary (unknown keys and
/// "did you mean" come from it). It reports problems through the values it reads and returns nil
/// when the job cannot run.
public protocol JobHandler: Sendable {
    /// The name used for `type:` (and for a job named after the type).
    static var typeName: String { get }
    /// How the seed's UI names this type (`displayName` of a run when the job sets none).
    static var displayName: String { get }

    init?(settings: ConfigMapping)

    func run(_ context: JobContext) async throws -> JobResult

    /// The type's own settings as `GET /api/batch/config` shows them. Secrets are never in
    /// batch.yaml (only the names of the variables and files holding them), so anything read
    /// from it may be shown; the default shows nothing.
    var publicSettings: [(String, JSONValue)] { get }
}

extension JobHandler {
    public var publicSettings: [(String, JSONValue)] { [] }
}

/// The job types a configuration may use, by name.
public struct JobTypeRegistry: Sendable {
    public let types: [String: any JobHandler.Type]

    public init(_ types: [any JobHandler.Type]) {
        self.types = Dictionary(types.map { ($0.typeName, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var names: [String] { types.keys.sorted() }
}
