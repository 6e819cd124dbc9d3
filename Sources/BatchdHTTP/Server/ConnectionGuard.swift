import NIOCore

/// One connection's time limits, shared by its `ConnectionGuard` (which sees bytes) and its
/// `RequestHandler` (which sees requests and answers). Both run on the connection's event
/// loop, so a plain class does.
final class ConnectionDeadline {
    private enum Phase {
        /// Between requests: the idle limit runs.
        case waiting
        /// A request has begun: the request limit runs.
        case receiving
        /// The request is whole and being answered: no limit of the client's applies.
        case answering
    }

    private let requestTimeout: TimeAmount
    let idleTimeout: TimeAmount
    private var phase = Phase.waiting
    /// When the connection is closed unless the phase changes first; nil while answering.
    private(set) var expiry: NIODeadline?

    init(limits: HTTPLimits) {
        requestTimeout = .milliseconds(limits.requestTimeout.milliseconds)
        idleTimeout = .milliseconds(limits.idleTimeout.milliseconds)
        expiry = .now() + idleTimeout
    }

    /// The shorter limit: how often the guard looks at the clock.
    var checkInterval: TimeAmount {
        .nanoseconds(max(min(requestTimeout.nanoseconds, idleTimeout.nanoseconds) / 4, 1_000_000))
    }

    func bytesArrived() {
        guard phase == .waiting else { return }
        phase = .receiving
        expiry = .now() + requestTimeout
    }

    func requestReceived() {
        phase = .answering
        expiry = nil
    }

    func answerWritten() {
        phase = .waiting
        expiry = .now() + idleTimeout
    }
}

/// First in each connection's pipeline, at the byte level: closes connections whose request
/// does not arrive whole within `requestTimeout` of its first byte (a client sending a byte a
/// second, a body that never ends), and kept-alive connections idle for `idleTimeout`.
///
/// It must sit before the HTTP decoder: a request head that never completes never becomes an
/// HTTP message, so only the bytes show that a request has begun. Requests only move the
/// deadline; one repeating check a quarter of the shorter limit apart closes the connection
/// once it has passed (so a limit is enforced within 1.25 times its length), which costs no
/// timer per request.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let deadline: ConnectionDeadline
    private var check: RepeatedTask?

    init(deadline: ConnectionDeadline) {
        self.deadline = deadline
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let deadline = NIOLoopBound(self.deadline, eventLoop: context.eventLoop)
        let interval = self.deadline.checkInterval
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            if let expiry = deadline.value.expiry, expiry <= .now() {
                task.cancel()
                channel.close(promise: nil)
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadline.bytesArrived()
        context.fireChannelRead(data)
    }
}
