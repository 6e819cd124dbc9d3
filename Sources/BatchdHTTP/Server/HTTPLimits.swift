import BatchdCore
import NIOHTTP1

/// What keeps one client from hurting the daemon or other clients (SPEC section 5): bounded
/// request heads and bodies, time limits for slow and idle clients, a cap on connections.
public struct HTTPLimits: Sendable {
    /// A request body over this is answered 413 (SPEC: 64 KiB).
    public var maximumBodySize = 64 * 1024
    /// One header field (name and value), and the request line.
    public var maximumHeaderFieldSize = 8 * 1024
    /// All of a request's header fields together.
    public var maximumHeadSize = 16 * 1024
    public var maximumConnections: Int
    /// From a request's first byte to its last; a client slower than that is dropped.
    public var requestTimeout: Duration
    /// A kept-alive connection with no request in progress for this long is closed.
    public var idleTimeout: Duration

    public init(settings: HTTPSettings) {
        maximumConnections = settings.maxConnections
        requestTimeout = settings.requestTimeout
        idleTimeout = settings.idleTimeout
    }

    var decoderLimits: NIOHTTPDecoderLimitConfiguration {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = maximumHeaderFieldSize
        limits.maxHeaderListSize = maximumHeadSize
        limits.maxHeaderFieldCount = 100
        return limits
    }
}
