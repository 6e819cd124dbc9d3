import NIOCore

/// Said by `RequestHandler` (as outbound user events) so that `ConnectionGuard`, which sees only
/// bytes, knows where requests and answers begin and end.
enum RequestProgress: Sendable {
    /// The whole request has arrived: the time limit for receiving it no longer applies.
    case requestReceived
    /// The answer has been written: the connection waits for its next request.
    case answerWritten
}

/// First in each connection's pipeline, at the byte level: closes connections whose request
/// does not arrive whole within `requestTimeout` of its first byte (a client sending a byte a
/// second, a body that never ends), and kept-alive connections idle for `idleTimeout`.
///
/// It must sit before the HTTP decoder: a request head that never completes never becomes an
/// HTTP message, so only the bytes show that a request has begun.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// Between requests: the idle limit runs.
        case waiting
        /// A request has begun: the request limit runs.
        case receiving
        /// The request is whole and being answered: no limit of the client's applies.
        case answering
    }

    private let requestTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var phase = Phase.waiting
    private var deadline: Scheduled<Void>?

    init(limits: HTTPLimits) {
        requestTimeout = .nanoseconds(Int64(limits.requestTimeout.milliseconds) * 1_000_000)
        idleTimeout = .nanoseconds(Int64(limits.idleTimeout.milliseconds) * 1_000_000)
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(idleTimeout, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if phase == .waiting {
            phase = .receiving
            arm(requestTimeout, context: context)
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let progress = event as? RequestProgress else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch progress {
        case .requestReceived:
            phase = .answering
            deadline?.cancel()
            deadline = nil
        case .answerWritten:
            phase = .waiting
            arm(idleTimeout, context: context)
        }
        promise?.succeed()
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }
}
