import BatchdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The HTTP listener: SwiftNIO's HTTP/1 server in front of `BatchAPI`, one service of the
/// daemon's `ServiceGroup`. It binds in `run()`, says where in the log, serves until graceful
/// shutdown, then closes the listening socket and every connection.
public final class HTTPAPIServer: DaemonFrontEnd {
    private let host: String
    private let port: Int
    private let limits: HTTPLimits
    private let api: BatchAPI
    private let logger: Logger
    private let threads: Int
    private let connections: ConnectionCounter
    private let bound = Mutex<Result<SocketAddress, any Error>?>(nil)
    private let boundWaiters = Mutex<[CheckedContinuation<SocketAddress, any Error>]>([])
    /// Kept alive with the server: the metrics it serves follow the engine through it.
    private let keepAlive: (any Sendable)?
    /// Hears of every answer; gives the pages the requests mapped back once they stop.
    private let pageRelease: RequestPageRelease?

    init(settings: HTTPSettings, api: BatchAPI, logger: Logger, threads: Int = min(2, System.coreCount), keepAlive: (any Sendable)? = nil,
         pageRelease: RequestPageRelease? = nil) {
        host = settings.host
        port = settings.port
        limits = HTTPLimits(settings: settings)
        self.api = api
        self.logger = logger
        self.threads = max(1, threads)
        connections = ConnectionCounter(maximum: limits.maximumConnections)
        self.keepAlive = keepAlive
        self.pageRelease = pageRelease
    }

    /// The address the listener is bound to, once it is (port 0 asks the system for a port).
    public func ready() async throws {
        _ = try await address()
    }

    public func address() async throws -> SocketAddress {
        try await withCheckedThrowingContinuation { continuation in
            let known = bound.withLock { result -> Result<SocketAddress, any Error>? in
                if result == nil { boundWaiters.withLock { $0.append(continuation) } }
                return result
            }
            if let known { continuation.resume(with: known) }
        }
    }

    private func settle(_ result: Result<SocketAddress, any Error>) {
        let waiters = bound.withLock { stored -> [CheckedContinuation<SocketAddress, any Error>] in
            stored = result
            return boundWaiters.withLock { waiting in
                defer { waiting = [] }
                return waiting
            }
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let channel: any Channel
        do {
            channel = try await bootstrap(group).bind(host: host, port: port).get()
        } catch {
            let failure = HTTPServerStartError(description: "cannot listen on \(host):\(port) (http.listen): \(Self.reason(error))")
            settle(.failure(failure))
            try? await group.shutdownGracefully()
            throw failure
        }
        let address = channel.localAddress!
        logger.info("http: listening on \(Self.describe(address))", metadata: [
            "writeEndpoints": "\(api.writeEndpointsEnabled ? "enabled (bearer token)" : "disabled")",
        ])
        settle(.success(address))
        let releasing = pageRelease.map { release in Task { await release.run() } }
        defer { releasing?.cancel() }
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        try? await group.shutdownGracefully()
    }

    private func bootstrap(_ group: MultiThreadedEventLoopGroup) -> ServerBootstrap {
        let api = self.api, limits = self.limits, connections = self.connections, pageRelease = self.pageRelease
        return ServerBootstrap(group: group)
            // A deep accept queue, drained many at a time: a burst of connections (hundreds of
            // slow clients reconnecting at once) must not overflow it, or the kernel drops the
            // SYNs of everyone else and they wait a second to retry.
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.maxMessagesPerRead, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                guard connections.admit(channel) else {
                    return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RefuseConnection()) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    let deadline = ConnectionDeadline(limits: limits)
                    try pipeline.addHandler(ConnectionGuard(deadline: deadline))
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: false, withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits.decoderLimits)
                    try pipeline.addHandler(RequestHandler(api: api, limits: limits, deadline: deadline, pageRelease: pageRelease))
                }
            }
    }

    static func describe(_ address: SocketAddress) -> String {
        let ip = address.ipAddress ?? "?"
        let port = address.port.map(String.init) ?? "?"
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    private static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return io.description }
        return "\(error)"
    }
}

public struct HTTPServerStartError: Error, CustomStringConvertible {
    public var description: String
}
