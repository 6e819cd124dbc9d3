import BatchdCore
import FoundationEssentials
import Glibc

/// The newest release of one app, as its source tells it. `etag` is the source's validator
/// for the answer (GitHub, GitLab), sent back next time as `If-None-Match`: an unchanged answer
/// is then a 304, which costs no quota.
struct ReleaseLookup: Sendable {
    enum Answer: Sendable {
        case newest(tag: String, etag: String?)
        /// 304: the same as last time (`cached` holds what that was).
        case unchanged
    }

    /// Asks GitHub: `GET /repos/{owner}/{repo}/releases/latest` (which leaves out drafts and
    /// prereleases), or the release list when prereleases are wanted (drafts left out).
    static func github(_ repository: String, baseURL: String, token: String?, includePrereleases: Bool,
                       etag: String?, timeout: Duration) async throws(RemoteFailure) -> Answer {
        var headers: [(name: String, value: String)] = [("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if let etag { headers.append(("If-None-Match", etag)) }
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        let path = includePrereleases ? "/repos/\(repository)/releases?per_page=100" : "/repos/\(repository)/releases/latest"
        let response = try await get(base + path, headers: headers, timeout: timeout)
        if response.status == 304 { return .unchanged }
        if RateLimit.isExhausted(response) { throw .rateLimited(RateLimit(response, now: Date())) }
        guard response.status == 200 else {
            if response.status == 404 {
                throw .notFound(includePrereleases ? "GitHub has no repository \(repository)"
                                                   : "GitHub has no published release of \(repository) (or no such repository)")
            }
            if response.status == 401 || response.status == 403 { throw .unauthorized("GitHub refused access to \(repository) (\(response.status)); check tokenEnv") }
            throw .badAnswer("GitHub answered \(response.status) for \(repository): \(RegistryClient.excerpt(response.bodyText))")
        }
        guard let body = try? JSONParser.parse(response.body) else {
            throw .badAnswer("GitHub's answer for \(repository) is not JSON: \(RegistryClient.excerpt(response.bodyText))")
        }
        let etag = response.header("etag")
        if includePrereleases {
            guard let releases = body.arrayValue else { throw .badAnswer("GitHub's release list of \(repository) is not a list") }
            let tags = releases.filter { $0["draft"]?.boolValue != true }.compactMap { $0["tag_name"]?.stringValue }
            guard let newest = SemanticVersion.newest(of: tags, includePrereleases: true) else {
                throw .notFound("none of the \(tags.count) release tag(s) of \(repository) on GitHub is a version")
            }
            return .newest(tag: newest.original, etag: etag)
        }
        guard let tag = body["tag_name"]?.stringValue, !tag.isEmpty else {
            throw .badAnswer("GitHub's latest release of \(repository) has no tag_name")
        }
        return .newest(tag: tag, etag: etag)
    }

    /// Asks GitLab: `GET /api/v4/projects/{url-encoded path}/releases` (newest first by
    /// `released_at`), leaving out upcoming releases and, unless asked, prereleases.
    static func gitlab(_ project: String, baseURL: String, token: String?, includePrereleases: Bool,
                       etag: String?, timeout: Duration) async throws(RemoteFailure) -> Answer {
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if let token { headers.append(("PRIVATE-TOKEN", token)) }
        if let etag { headers.append(("If-None-Match", etag)) }
        let encoded = percentEncoded(project)
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        let response = try await get("\(base)/api/v4/projects/\(encoded)/releases?per_page=100", headers: headers, timeout: timeout)
        if response.status == 304 { return .unchanged }
        if response.status == 429 { throw .rateLimited(RateLimit(response, now: Date())) }
        guard response.status == 200 else {
            if response.status == 404 { throw .notFound("GitLab at \(base) has no project \(project) (or it is private: set gitlabTokenEnv)") }
            if response.status == 401 || response.status == 403 { throw .unauthorized("GitLab refused access to \(project) (\(response.status)); check gitlabTokenEnv") }
            throw .badAnswer("GitLab answered \(response.status) for \(project): \(RegistryClient.excerpt(response.bodyText))")
        }
        guard let releases = (try? JSONParser.parse(response.body))?.arrayValue else {
            throw .badAnswer("GitLab's release list of \(project) is not a JSON list: \(RegistryClient.excerpt(response.bodyText))")
        }
        let tags = releases.filter { $0["upcoming_release"]?.boolValue != true }.compactMap { $0["tag_name"]?.stringValue }
        guard let newest = SemanticVersion.newest(of: tags, includePrereleases: includePrereleases) else {
            throw .notFound("GitLab project \(project) has no release whose tag is a version (\(tags.count) release(s))")
        }
        return .newest(tag: newest.original, etag: response.header("etag"))
    }

    /// Asks a registry for the repository's tags and takes the highest version among them
    /// (`latest`, `main` and other words are not versions).
    static func image(_ image: ImageReference, registry: String, tokens: TokenCache, timeout: Duration) async throws(RemoteFailure) -> [String] {
        let endpoint = RegistryEndpoint(image, defaultRegistry: registry)
        return try await RegistryClient(baseURL: endpoint.baseURL, credentials: nil, tokens: tokens, timeout: timeout).tags(repository: endpoint.repository)
    }

    private static func get(_ url: String, headers: [(name: String, value: String)], timeout: Duration) async throws(RemoteFailure) -> HTTPResponse {
        do {
            return try await HTTPClient.perform(HTTPRequest(url: url, headers: headers, timeout: timeout))
        } catch {
            if error.kind == .cancelled { throw .cancelled }
            throw .transport(error.description)
        }
    }

    /// Every byte but RFC 3986's unreserved ones as `%XX`: GitLab takes `group/project` as one
    /// path segment, `group%2Fproject`.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                result += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return result
    }
}
