/// One HTTP request, as every job type and notification sends it.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    public var timeout: Duration
    public var followRedirects: Bool
    /// Answers larger than this are refused: a broken or hostile server cannot fill memory.
    public var maximumBodySize: Int
    /// `user:password` for HTTP basic authentication (a registry's token endpoint).
    public var basicCredentials: String?

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                timeout: Duration = .seconds(30), followRedirects: Bool = true, maximumBodySize: Int = 16 << 20,
                basicCredentials: String? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.followRedirects = followRedirects
        self.maximumBodySize = maximumBodySize
        self.basicCredentials = basicCredentials
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names in lower case, in the order received, of the last response of a redirect chain.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name == wanted }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// No answer in time (connecting or waiting for the server).
        case timeout
        /// The task was cancelled (a run's timeout, `batchd cancel`, shutdown).
        case cancelled
        /// The answer was over `maximumBodySize`.
        case tooLarge
        /// Anything else curl reports: no connection, TLS, a connection closed mid-answer.
        case transport
    }

    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}
