import BatchdCore

/// `type: http`: one HTTP request as a job (pings, webhooks, health checks).
public struct HTTPRequestJob: JobHandler {
    public static let typeName = "http"
    public static let displayName = "HTTP Request"

    static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    /// Headers that carry credentials; their values come from `headersEnv`, never the file.
    static let secretHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "x-api-key", "private-token"]

    public var url: String
    public var method: String
    public var headers: [(name: String, value: String)]
    /// Header name → environment variable holding its value (for credentials).
    public var headersEnv: [(name: String, variable: String)]
    public var body: String?
    /// Accepted status codes; empty means any 2xx.
    public var expectStatus: [Int]

    public init?(settings: ConfigMapping) {
        let url = settings.required("url", "the URL to request")?.asHTTPURL()
        method = settings.value("method")?.asChoice(Self.methods) ?? "GET"
        headers = settings.value("headers")?.asStringMap { name in
            Self.secretHeaders.contains(name.lowercased())
                ? "'\(name)' carries a credential: secrets are never written in batch.yaml; use headersEnv: { \(name): VARIABLE }"
                : nil
        }?.map { (name: $0.key, value: $0.value) } ?? []
        headersEnv = (settings.value("headersEnv")?.asMapping()).map { mapping in
            mapping.entries.compactMap { name, value in value.asEnvironmentName().map { (name, $0) } }
        } ?? []
        body = settings.value("body")?.asString()
        expectStatus = []
        if let value = settings.value("expectStatus") {
            if case .sequence = value.node.content {
                expectStatus = value.asList()?.compactMap { $0.asInt(in: 100...599) } ?? []
            } else if let single = value.asInt(in: 100...599) {
                expectStatus = [single]
            }
        }
        guard let url else { return nil }
        self.url = url
    }

    public var publicSettings: [(String, JSONValue)] {
        var settings: [(String, JSONValue)] = [("url", .string(url)), ("method", .string(method))]
        if !headers.isEmpty { settings.append(("headers", .object(headers.map { ($0.name, .string($0.value)) }))) }
        if !headersEnv.isEmpty { settings.append(("headersEnv", .object(headersEnv.map { ($0.name, .string($0.variable)) }))) }
        if let body { settings.append(("body", .string(body))) }
        if !expectStatus.isEmpty { settings.append(("expectStatus", .array(expectStatus.map { .int(Int64($0)) }))) }
        return settings
    }

    public func run(_ context: JobContext) async throws -> JobResult {
        var requestHeaders = headers
        for (name, variable) in headersEnv {
            guard let value = context.environment[variable] else {
                throw JobFailure("header \(name): environment variable \(variable) is not set")
            }
            requestHeaders.append((name, value))
        }
        let request = HTTPRequest(method: method, url: url, headers: requestHeaders, body: body.map { Array($0.utf8) })
        context.logger.info("\(method) \(url)")
        let response: HTTPResponse
        do {
            response = try await HTTPClient.perform(request)
        } catch {
            throw JobFailure(error.description)
        }
        let accepted = expectStatus.isEmpty ? (200...299).contains(response.status) : expectStatus.contains(response.status)
        let result: JSONValue = ["status": .int(Int64(response.status)), "bytes": .int(Int64(response.body.count))]
        context.logger.info("answered \(response.status) with \(response.body.count) bytes")
        guard accepted else {
            let expected = expectStatus.isEmpty ? "2xx" : expectStatus.map(String.init).joined(separator: ", ")
            let excerpt = String(response.bodyText.prefix(200)).replacing("\n", with: " ")
            throw JobFailure("\(url) answered \(response.status), expected \(expected)\(excerpt.isEmpty ? "" : ": \(excerpt)")",
                             partial: JobResult(itemsChecked: 1, result: result))
        }
        return JobResult(itemsChecked: 1, itemsUpdated: 0, result: result)
    }
}
