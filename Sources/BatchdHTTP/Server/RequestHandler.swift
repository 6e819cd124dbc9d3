import BatchdCore
import NIOCore
import NIOHTTP1

/// Last in each connection's pipeline: assembles a request (refusing bodies over the limit
/// with 413), hands it to `BatchAPI`, and writes the answer. Parse errors of the HTTP decoder
/// become JSON 400 answers (431 for heads over the limit) before the connection is closed.
///
/// Answers `BatchAPI` has at once are written in the same event-loop turn; the others are
/// awaited in a task and written back on the channel's event loop.
final class RequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer?)
        /// Answered 413 before the body ended; the rest of the body is dropped.
        case refusing
        case answering(HTTPRequestHead)
    }

    private let api: BatchAPI
    private let maximumBodySize: Int
    private let deadline: ConnectionDeadline
    private let pageRelease: RequestPageRelease?
    private var state = State.idle
    private var isActive = true

    init(api: BatchAPI, limits: HTTPLimits, deadline: ConnectionDeadline, pageRelease: RequestPageRelease? = nil) {
        self.api = api
        maximumBodySize = limits.maximumBodySize
        self.deadline = deadline
        self.pageRelease = pageRelease
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        isActive = false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), _):
            state = .receiving(head, nil)
            if let declared = head.headers.first(name: "content-length").flatMap(Int.init), declared > maximumBodySize {
                refuse(head, context: context)
            }
        case (.body(var chunk), .receiving(let head, var body)):
            if body == nil {
                body = chunk
            } else {
                body!.writeBuffer(&chunk)
            }
            if body!.readableBytes > maximumBodySize {
                refuse(head, context: context)
            } else {
                state = .receiving(head, body)
            }
        case (.end, .receiving(let head, let body)):
            state = .answering(head)
            deadline.requestReceived()
            dispatch(head, body: body, context: context)
        case (.end, .refusing):
            context.close(promise: nil)
        case (.body, _), (.end, _):
            break  // the rest of a refused request
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parseError = error as? HTTPParserError {
            // A request that cannot be parsed ends the connection (the decoder closes it); it
            // gets an answer unless one is already being written.
            if case .answering = state {} else {
                let overflow = parseError == .headerOverflow
                let response = APIResponse.failure(
                    overflow ? .requestHeaderFieldsTooLarge : .badRequest,
                    overflow ? "the request line or headers are too large (at most 8 KiB a field, 16 KiB in all)"
                             : "the request is not valid HTTP/1.1 (\(parseError))"
                )
                write(response, version: .http1_1, keepAlive: false, context: context)
            }
        }
        context.close(promise: nil)
    }

    private func refuse(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        state = .refusing
        let response = APIResponse.failure(.payloadTooLarge, "the request body is larger than \(maximumBodySize / 1024) KiB")
        write(response, version: head.version, keepAlive: false, context: context, closeAfter: false)
    }

    private func dispatch(_ head: HTTPRequestHead, body: ByteBuffer?, context: ChannelHandlerContext) {
        let request: APIRequest
        do {
            request = try APIRequest(method: head.method, uri: head.uri, headers: head.headers, body: body)
        } catch {
            finish(.failure(.badRequest, error.reason), head: head, context: context)
            return
        }
        switch api.route(request) {
        case .now(let response):
            finish(response, head: head, context: context)
        case .later(let work):
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            Task {
                let response = await work()
                bound.eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.finish(response, head: head, context: context)
                }
            }
        }
    }

    private func finish(_ response: APIResponse, head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard isActive else { return }  // the client went away meanwhile
        state = .idle
        write(response, version: head.version, keepAlive: head.isKeepAlive, context: context)
        deadline.answerWritten()
    }

    private func write(_ response: APIResponse, version: HTTPVersion, keepAlive: Bool, context: ChannelHandlerContext, closeAfter: Bool = true) {
        var headers = response.headers
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        if keepAlive || !closeAfter {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
        pageRelease?.requestAnswered()
    }
}
