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
}
