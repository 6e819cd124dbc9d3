import BatchdCore
import FoundationEssentials
import Glibc

/// Bearer tokens of a registry's token service, kept per scope until shortly before they expire.
///
/// Asking for a scope whose token is being fetched waits for that fetch: eight checks of one
/// repository starting together cost one token request, not eight. The cache belongs to the
/// job (a reload makes a new one) and lives across its runs, so an hourly check within a
/// token's lifetime asks for none.
actor TokenCache {
    struct Key: Hashable {
        var realm: String
        var service: String
        var scope: String
    }

    private var tokens: [Key: (token: String, expires: Date)] = [:]
    private var fetching: [Key: Task<String, any Error>] = [:]
    /// The scope each registry last asked for a repository: lets a request carry its token
    /// before the registry challenges it.
    private var knownChallenges: [String: Key] = [:]
    /// Where each registry (by base URL) sends clients for tokens, once it has said so: the
    /// token for a repository not asked about yet can then be fetched before its first
    /// request, instead of after a 401 for each.
    private var tokenServices: [String: (realm: String, service: String)] = [:]
    private(set) var requests = 0

    /// Tokens are renewed this long before they expire, so none runs out mid-request.
    static let margin: TimeInterval = 10

    func cached(forRequestKey key: String, now: Date = Date()) -> String? {
        guard let challenge = knownChallenges[key], let entry = tokens[challenge], entry.expires > now else { return nil }
        return entry.token
    }

    /// The key a token for `repository` on `registry` will have, when the registry's token
    /// service is known.
    func expectedKey(registry: String, repository: String) -> Key? {
        tokenServices[registry].map { Key(realm: $0.realm, service: $0.service, scope: "repository:\(repository):pull") }
    }

    /// The token for `key`, fetched with `fetch` unless one is cached or being fetched.
    func token(for key: Key, registry: String, requestKey: String, fetch: @escaping @Sendable () async throws -> (token: String, lifetime: TimeInterval)) async throws -> String {
        knownChallenges[requestKey] = key
        tokenServices[registry] = (key.realm, key.service)
        if let entry = tokens[key], entry.expires > Date() { return entry.token }
        if let inFlight = fetching[key] { return try await inFlight.value }
        requests += 1
        let task = Task { () throws -> String in
            let (token, lifetime) = try await fetch()
            self.store(token, for: key, lifetime: lifetime)
            return token
        }
        fetching[key] = task
        defer { fetching[key] = nil }
        return try await task.value
    }

    /// A token the registry refused: asked for again next time.
    func forget(_ key: Key) {
        tokens[key] = nil
    }

    private func store(_ token: String, for key: Key, lifetime: TimeInterval) {
        tokens[key] = (token, Date().addingTimeInterval(max(0, lifetime - Self.margin)))
    }
}
