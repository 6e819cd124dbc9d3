import BatchdCore
import FoundationEssentials
import Glibc

/// One container registry, through the OCI distribution API v2: the digest behind a tag
/// (`HEAD /v2/<name>/manifests/<reference>`, which Docker Hub does not count as a pull) and a
/// repository's tags (`GET /v2/<name>/tags/list`, following `Link` pages).
///
/// Authentication follows the registry's challenge: a 401 with `WWW-Authenticate: Bearer
/// realm=...,service=...,scope=...` sends it to the token service (with the credentials, when
/// set), then the request again with the token; `Basic` is answered with the credentials.
/// Tokens are cached per scope (`TokenCache`), so later requests carry theirs from the start.
struct RegistryClient: Sendable {
    /// `https://registry-1.docker.io`, without a trailing slash.
    let baseURL: String
    /// `user:password`, from the job's `usernameEnv` / `passwordEnv`.
    let credentials: String?
    let tokens: TokenCache
    var timeout: Duration = .seconds(30)

    /// Every media type a tag can point at: without them a registry may answer with another
    /// manifest (schema 1, or one platform's) whose digest never matches.
    static let manifestTypes = [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ].joined(separator: ", ")

    typealias Failure = RemoteFailure

    /// The digest `reference` (a tag or digest) of `repository` points at now.
    func manifestDigest(repository: String, reference: String) async throws(Failure) -> String {
        let response = try await send("HEAD", "/v2/\(repository)/manifests/\(reference)", repository: repository,
                                      headers: [("Accept", Self.manifestTypes)])
        guard response.status == 200 else {
            throw Self.failure(response, what: "\(repository):\(reference)")
        }
        guard let digest = response.header("docker-content-digest") else {
            throw .badAnswer("the registry answered without a Docker-Content-Digest header for \(repository):\(reference)")
        }
        guard Self.isDigest(digest) else {
            throw .badAnswer("the registry's Docker-Content-Digest '\(Self.excerpt(digest))' for \(repository):\(reference) is not a digest (expected sha256: and 64 hex digits)")
        }
        return digest
    }

    /// Every tag of `repository`, across pages.
    func tags(repository: String) async throws(Failure) -> [String] {
        var tags: [String] = []
        var path = "/v2/\(repository)/tags/list?n=1000"
        for _ in 0..<100 {
            let response = try await send("GET", path, repository: repository, headers: [("Accept", "application/json")])
            guard response.status == 200 else { throw Self.failure(response, what: "the tags of \(repository)") }
            guard let body = try? JSONParser.parse(response.body), let list = body["tags"] else {
                throw .badAnswer("the tag list of \(repository) is not JSON with a \"tags\" list: \(Self.excerpt(response.bodyText))")
            }
            if case .null = list {} else {
                guard let items = list.arrayValue else { throw .badAnswer("the \"tags\" of \(repository) are not a list") }
                tags += items.compactMap(\.stringValue)
            }
            guard let next = Self.nextPage(response.header("link")) else { return tags }
            path = next
        }
        return tags
    }

    // MARK: Requests and authentication

    private func send(_ method: String, _ path: String, repository: String, headers: [(name: String, value: String)]) async throws(Failure) -> HTTPResponse {
        let url = path.hasPrefix("http://") || path.hasPrefix("https://") ? path : baseURL + path
        let requestKey = "\(baseURL) \(repository)"
        var headers = headers
        if let token = await tokens.cached(forRequestKey: requestKey) {
            headers.append(("Authorization", "Bearer \(token)"))
        } else if let key = await tokens.expectedKey(registry: baseURL, repository: repository) {
            // This registry's token service is known: the token comes first, then the request
            // (a challenge per repository would double the requests of its first check).
            headers.append(("Authorization", "Bearer \(try await token(key, requestKey: requestKey))"))
        }
        var response = try await perform(HTTPRequest(method: method, url: url, headers: headers, timeout: timeout))
        guard response.status == 401 else { return response }

        let challenge = response.header("www-authenticate").flatMap(AuthChallenge.init)
        headers.removeAll { $0.name == "Authorization" }
        switch challenge?.scheme {
        case "bearer":
            guard let challenge, let realm = challenge.realm else {
                throw .badAnswer("the registry asked for a bearer token without saying where to get one (no realm in WWW-Authenticate)")
            }
            let key = TokenCache.Key(realm: realm, service: challenge.service ?? "", scope: challenge.scope ?? "repository:\(repository):pull")
            headers.append(("Authorization", "Bearer \(try await token(key, requestKey: requestKey))"))
            response = try await perform(HTTPRequest(method: method, url: url, headers: headers, timeout: timeout))
            if response.status == 401 {
                await tokens.forget(key)
                throw .unauthorized(credentials == nil
                    ? "the registry refused anonymous access to \(repository): set usernameEnv and passwordEnv"
                    : "the registry refused the credentials for \(repository) (usernameEnv/passwordEnv)")
            }
            return response
        case "basic":
            guard let credentials else {
                throw .unauthorized("the registry needs credentials for \(repository): set usernameEnv and passwordEnv")
            }
            response = try await perform(HTTPRequest(method: method, url: url, headers: headers, timeout: timeout, basicCredentials: credentials))
            if response.status == 401 { throw .unauthorized("the registry refused the credentials for \(repository) (usernameEnv/passwordEnv)") }
            return response
        default:
            throw .unauthorized("the registry answered 401 for \(repository) without a challenge batchd knows (WWW-Authenticate: \(Self.excerpt(response.header("www-authenticate") ?? "none")))")
        }
    }

    /// The token for `key`: cached, being fetched by another check, or fetched now.
    private func token(_ key: TokenCache.Key, requestKey: String) async throws(Failure) -> String {
        do {
            return try await tokens.token(for: key, registry: baseURL, requestKey: requestKey) { [self] in try await fetchToken(key) }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .transport("\(error)")
        }
    }

    /// `GET realm?service=...&scope=...` → `{"token": ..., "expires_in": ...}` (some token
    /// services say `access_token`; a missing lifetime means 60 s, as the spec of the protocol says).
    private func fetchToken(_ key: TokenCache.Key) async throws(Failure) -> (token: String, lifetime: TimeInterval) {
        var components = URLComponents(string: key.realm)
        guard components?.scheme == "http" || components?.scheme == "https" else {
            throw .badAnswer("the registry's token realm '\(Self.excerpt(key.realm))' is not an http(s) URL")
        }
        var query = components?.queryItems ?? []
        if !key.service.isEmpty { query.append(URLQueryItem(name: "service", value: key.service)) }
        query.append(URLQueryItem(name: "scope", value: key.scope))
        components?.queryItems = query
        guard let url = components?.string else { throw .badAnswer("cannot build the token URL from '\(Self.excerpt(key.realm))'") }
        let response = try await perform(HTTPRequest(url: url, headers: [("Accept", "application/json")], timeout: timeout, basicCredentials: credentials))
        guard response.status == 200 else {
            if response.status == 401 || response.status == 403 {
                throw .unauthorized("the token service refused \(credentials == nil ? "anonymous access" : "the credentials (usernameEnv/passwordEnv)") for \(key.scope)")
            }
            throw Self.failure(response, what: "a token for \(key.scope)")
        }
        guard let body = try? JSONParser.parse(response.body),
              let token = body["token"]?.stringValue ?? body["access_token"]?.stringValue, !token.isEmpty else {
            throw .badAnswer("the token service's answer is not JSON with a \"token\": \(Self.excerpt(response.bodyText))")
        }
        return (token, Double(body["expires_in"]?.intValue ?? 60))
    }

    private func perform(_ request: HTTPRequest) async throws(Failure) -> HTTPResponse {
        do {
            return try await HTTPClient.perform(request)
        } catch {
            if error.kind == .cancelled { throw .cancelled }
            throw .transport(error.description)
        }
    }

    static func failure(_ response: HTTPResponse, what: String) -> Failure {
        switch response.status {
        case 429: return .rateLimited(RateLimit(response, now: Date()))
        case 404: return .notFound("\(what): not found on the registry (404)")
        case 401, 403: return .unauthorized("\(what): the registry refused access (\(response.status))")
        default:
            let detail = excerpt(response.bodyText)
            return .badAnswer("\(what): the registry answered \(response.status)\(detail.isEmpty ? "" : ": \(detail)")")
        }
    }

    /// `<...>; rel="next"` of a `Link` header, as a path or URL.
    static func nextPage(_ link: String?) -> String? {
        guard let link else { return nil }
        for part in link.split(separator: ",") where part.contains(#"rel="next""#) {
            guard let open = part.firstIndex(of: "<"), let close = part.firstIndex(of: ">"), open < close else { continue }
            return String(part[part.index(after: open)..<close])
        }
        return nil
    }

    static func isDigest(_ text: String) -> Bool {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { return false }
        let length = ["sha256": 64, "sha512": 128][String(parts[0])]
        return parts[1].count == length && parts[1].allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    /// A remote text cut short for a message: one line, at most 120 characters.
    static func excerpt(_ text: String) -> String {
        let line = text.replacing("\n", with: " ").trimmingSpaces()
        return line.count > 120 ? line.prefix(120) + "…" : line
    }
}
