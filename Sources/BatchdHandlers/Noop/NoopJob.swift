import BatchdCore

/// `type: noop`: does nothing and succeeds. A join point for `after:` chains (run `report`
/// once both `a` and `b` have succeeded, through one noop job that comes `after: [a, b]`), a
/// placeholder while a job is being written, and what the throughput benchmark runs to measure
/// batchd's own cost per run.
public struct NoopJob: JobHandler {
    public static let typeName = "noop"
    public static let displayName = "No-op"

    public init?(settings: ConfigMapping) {}

    public func run(_ context: JobContext) async throws -> JobResult {
        JobResult()
    }
}
