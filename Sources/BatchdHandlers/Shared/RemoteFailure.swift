/// Why asking a remote service (a registry, GitHub, GitLab) about one item gave no answer:
/// each becomes that item's error in the run, except a rate limit, which stops the run.
enum RemoteFailure: Error, Sendable {
    case rateLimited(RateLimit)
    case notFound(String)
    case unauthorized(String)
    /// An answer batchd cannot use (a missing or malformed header, a body that is not JSON).
    case badAnswer(String)
    /// No answer: no connection, a timeout, TLS, a connection closed mid-answer.
    case transport(String)
    case cancelled

    var message: String {
        switch self {
        case .rateLimited: "rate limited"
        case .notFound(let text), .unauthorized(let text), .badAnswer(let text), .transport(let text): text
        case .cancelled: "cancelled"
        }
    }

    var isRateLimit: Bool {
        if case .rateLimited = self { return true }
        return false
    }
}
