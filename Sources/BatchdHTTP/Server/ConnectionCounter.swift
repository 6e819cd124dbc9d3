import NIOCore
import Synchronization

/// The cap on concurrent connections: one over it gets a canned 503 and is closed, before any
/// HTTP handler is set up for it, so a flood of connections costs little each.
final class ConnectionCounter: Sendable {
    private let open = Atomic<Int>(0)
    let maximum: Int

    init(maximum: Int) {
        self.maximum = maximum
    }

    var current: Int { open.load(ordering: .relaxed) }

    /// Counts `channel` until it closes; false (and not counted) when the cap is reached.
    func admit(_ channel: any Channel) -> Bool {
        guard open.add(1, ordering: .relaxed).newValue <= maximum else {
            open.subtract(1, ordering: .relaxed)
            return false
        }
        channel.closeFuture.whenComplete { [self] _ in open.subtract(1, ordering: .relaxed) }
        return true
    }

    static let refusal: ByteBuffer = {
        let body = #"{"success":false,"error":"too many connections; try again shortly"}"# + "\n"
        let head = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\n"
            + "content-length: \(body.utf8.count)\r\nretry-after: 1\r\nconnection: close\r\n\r\n"
        return ByteBuffer(string: head + body)
    }()
}

/// The whole pipeline of a connection over the cap: the canned 503 once it is up, then close.
final class RefuseConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(NIOAny(ConnectionCounter.refusal)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}  // whatever it sent is dropped
}
