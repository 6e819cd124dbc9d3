/// A job type: its name, and how it reads its own keys from a job's mapping in batch.yaml.
///
/// A handler value is immutable configuration; the engine runs it. To add a type, write one file
/// with a struct conforming to this protocol and list it in `BuiltInJobTypes`.
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
}

/// The job types a configuration may use, by name.
public struct JobTypeRegistry: Sendable {
    public let types: [String: any JobHandler.Type]

    public init(_ types: [any JobHandler.Type]) {
        self.types = Dictionary(types.map { ($0.typeName, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var names: [String] { types.keys.sorted() }
}
