import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import ParleyAgent
import ParleyCore
import ParleyHTTP
import Synchronization

/// Open connections by client address, so one address cannot hold them all, and so the ones
/// left at the end of the shutdown grace period can be closed.
final class ConnectionRegistry: Sendable {
    private struct State {
        var perAddress: [String: Int] = [:]
        var channels: [ObjectIdentifier: any Channel] = [:]
    }
    private let state = Mutex(State())
    let maxPerAddress: Int

    init(maxPerAddress: Int) {
        self.maxPerAddress = maxPerAddress
    }

    /// Records the connection; false when its address already holds the most it may.
    func admit(_ channel: any Channel) -> Bool {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let id = ObjectIdentifier(channel)
        let admitted = state.withLock { s -> Bool in
            if maxPerAddress > 0, s.perAddress[address, default: 0] >= maxPerAddress { return false }
            s.perAddress[address, default: 0] += 1
            s.channels[id] = channel
            return true
        }
        guard admitted else { return false }
        channel.closeFuture.whenComplete { [self] _ in
            state.withLock { s in
                s.channels[id] = nil
                let n = s.perAddress[address, default: 1] - 1
                s.perAddress[address] = n > 0 ? n : nil
            }
        }
        return true
    }

    var count: Int { state.withLock { $0.channels.count } }

    /// Closes every connection; returns how many there were.
    func closeAll() -> Int {
        let all = state.withLock { Array($0.channels.values) }
        for channel in all { channel.close(promise: nil) }
        return all.count
    }
}

/// What the server does with a connection besides answering its requests: the timeouts, the
/// per-address cap, answers to requests NIO's HTTP decoder refuses, and the shutdown drain.
struct ConnectionGuard: Sendable {
    let settings: TransportSettings
    let registry: ConnectionRegistry
    let drain: ShutdownDrain
}

/// Hummingbird's HTTP/1.1-with-WebSocket-upgrade channel with our handlers around it.
///
/// Why: in Hummingbird 2.28 a request NIO's decoder refuses before the first request of a
/// connection has been read (a bad request line, a byte that is not allowed in the target, headers
/// over the limit) goes to the WebSocket upgrade handler, which does not handle errors: the
/// error reaches the end of the pipeline, nothing answers and the connection stays open. And the
/// connection idle timeout only starts after a first complete request head. `HTTPGuardHandler`
/// sits right after the decoder and answers those errors itself; `ByteGuardHandler` sits at the
/// socket and sees every byte and the server's quiesce event.
struct GuardedHTTPChannel: ServerChildChannel {
    typealias Value = HTTP1WebSocketUpgradeChannel.Value
    let inner: HTTP1WebSocketUpgradeChannel
    let connectionGuard: ConnectionGuard

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let admitted = connectionGuard.registry.admit(channel)
        let activity = ConnectionActivity()
        let settings = connectionGuard.settings
        let drain = connectionGuard.drain
        do {
            try channel.pipeline.syncOperations.addHandler(ByteGuardHandler(activity: activity, reject: !admitted, drain: { drain.begin() }))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        let sharedActivity = NIOLoopBound(activity, eventLoop: channel.eventLoop)
        return inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let activity = sharedActivity.value
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(
                HTTPGuardHandler(activity: activity, settings: settings, logger: logger), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with WebSocket upgrade through `webSocketRouter`, guarded by `connectionGuard`.
    static func parley<WSResponderBuilder: HTTPResponderBuilder & _HB_SendableMetatype>(
        webSocketRouter: WSResponderBuilder, connectionGuard: ConnectionGuard
    ) -> HTTPServerBuilder where WSResponderBuilder.Responder.Context: WebSocketRequestContext {
        let webSocketResponder = webSocketRouter.buildResponder()
        return .init { responder in
            GuardedHTTPChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: .init()),
                connectionGuard: connectionGuard)
        }
    }
}

/// Shared by a connection's two handlers (both run on its event loop).
final class ConnectionActivity {
    /// Waiting for the head of a request (none in progress).
    var awaitingHead = true
    /// When the first byte of the awaited head arrived.
    var headStarted: NIODeadline?
    var lastRead = NIODeadline.now()
}

/// At the socket: records when bytes arrive, turns away connections over the per-address cap
/// (503 and close), and starts the shutdown drain when the server asks connections to quiesce.
final class ByteGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let activity: ConnectionActivity
    private let reject: Bool
    private let drain: @Sendable () -> Void
    private var rejected = false

    init(activity: ConnectionActivity, reject: Bool, drain: @escaping @Sendable () -> Void) {
        self.activity = activity
        self.reject = reject
        self.drain = drain
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { turnAway(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        turnAway(context)
        context.fireChannelActive()
    }

    private func turnAway(_ context: ChannelHandlerContext) {
        guard reject, !rejected else { return }
        rejected = true
        let body = GuardResponse.body(code: "too_many_connections",
                                      message: "this address has too many open connections; close some or reuse one (keep-alive)")
        var bytes = context.channel.allocator.buffer(capacity: body.readableBytes + 160)
        bytes.writeString("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
                          + "Content-Length: \(body.readableBytes)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n")
        bytes.writeImmutableBuffer(body)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(bytes)).whenComplete { _ in endQuietly(bound.value) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if reject { return }
        let now = NIODeadline.now()
        activity.lastRead = now
        if activity.awaitingHead && activity.headStarted == nil { activity.headStarted = now }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent { drain() }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Closes a connection whose first request never reached Hummingbird. Hummingbird waits for the
/// WebSocket upgrade handler to decide about that request and logs an error when the connection
/// closes under it; told first that the input is over, the upgrade handler ends the wait itself
/// (logged at trace level). (`HTTPGuardHandler.channelInactive` does the same for other closes.)
func endQuietly(_ context: ChannelHandlerContext) {
    if context.channel.isActive {
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }
    context.channel.close(promise: nil)
}

/// A fixed JSON error answer written below Hummingbird (no request context exists there).
enum GuardResponse {
    static func body(code: String, message: String) -> ByteBuffer {
        let value: JSONValue = ["error": ["code": .string(code), "message": .string(message), "request_id": .string(UUIDv7.make(at: Date()))]]
        return ByteBuffer(string: value.serialized())
    }
}

/// Right after NIO's HTTP decoder: answers what the decoder refuses, enforces the header and
/// idle timeouts, and replaces the empty 400 of a refused WebSocket upgrade with our error.
final class HTTPGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let activity: ConnectionActivity
    private let settings: TransportSettings
    private let logger: Logger
    /// Requests whose head arrived and whose response has not ended.
    private var unanswered = 0
    private var readingBody = false
    private var responding = false
    /// When the connection last had nothing in progress.
    private var idleSince = NIODeadline.now()
    /// A decoder error that arrived while an earlier response was still being written.
    private var deferredError: HTTPResponseStatus?
    private var closeAfterResponse = false
    private var finished = false
    private var upgraded = false
    private var inputClosed = false
    private var timer: RepeatedTask?
    /// The answer for a WebSocket upgrade the router refused (set by `WebSocketRefusal`).
    var refusal: WebSocketRefusal?
    private var replacingRefusedUpgrade: WebSocketRefusal?

    init(activity: ConnectionActivity, settings: TransportSettings, logger: Logger) {
        self.activity = activity
        self.settings = settings
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let shortest = min(settings.headerTimeoutSeconds, settings.idleTimeoutSeconds)
        // Checked often enough to close within a quarter of the shortest timeout past it.
        let tick = TimeAmount.milliseconds(Int64(max(50, min(1000, shortest * 250))))
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let contextBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in
            loopBound.value.check(contextBound.value)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        if !upgraded && !inputClosed {
            // A connection that closes before its first request reached Hummingbird (we refused
            // it, it timed out, the client left half-way): the upgrade handler still waits for
            // that request. Told that the input is over, it ends the wait quietly instead of
            // failing (logged as an error) when it is removed with the closed connection.
            inputClosed = true
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { inputClosed = true }
        context.fireUserInboundEventTriggered(event)
    }

    private func check(_ context: ChannelHandlerContext) {
        guard !finished, context.channel.isActive else { return }
        let now = NIODeadline.now()
        let header = TimeAmount.seconds(Int64(settings.headerTimeoutSeconds))
        let idle = TimeAmount.seconds(Int64(settings.idleTimeoutSeconds))
        if unanswered == 0 {
            if let started = activity.headStarted, now - started > header {
                respond(context, .requestTimeout, code: "request_timeout",
                        message: "the request's headers did not arrive within \(settings.headerTimeoutSeconds) s")
            } else if activity.headStarted == nil, now - idleSince > idle {
                finished = true
                context.close(promise: nil)
            }
        } else if readingBody, now - activity.lastRead > idle {
            if responding {
                finished = true
                context.close(promise: nil)
            } else {
                respond(context, .requestTimeout, code: "request_timeout",
                        message: "no part of the request body arrived for \(settings.idleTimeoutSeconds) s")
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if upgraded {
            context.fireChannelRead(data)
            return
        }
        switch unwrapInboundIn(data) {
        case .head:
            unanswered += 1
            readingBody = true
            activity.awaitingHead = false
            activity.headStarted = nil
        case .body:
            break
        case .end:
            readingBody = false
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !upgraded, let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        let status: HTTPResponseStatus = parserError == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
        logger.debug("refused a malformed request", metadata: ["error": "\(parserError)"])
        if unanswered == 0 {
            respond(context, status)
        } else if readingBody {
            // The request being answered has a malformed body: its handler reads the error
            // (and answers 400); the connection closes after that response.
            closeAfterResponse = true
            context.fireErrorCaught(error)
        } else {
            // A pipelined request after one still being answered: answer it once that is done.
            deferredError = status
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if upgraded {
            context.write(data, promise: promise)
            return
        }
        let part = unwrapOutboundIn(data)
        if let refused = replacingRefusedUpgrade {
            // The failed upgrade's own head, body and end are replaced by the router's answer.
            if case .end = part {
                replacingRefusedUpgrade = nil
                context.write(wrapOutboundOut(.body(.byteBuffer(refused.body))), promise: nil)
                endResponse(context, wrapOutboundOut(.end(nil)), promise: promise)
            } else {
                promise?.succeed(())
            }
            return
        }
        switch part {
        case .head(let head):
            if head.status == .switchingProtocols {
                // Upgraded to WebSocket: HTTP is over on this connection, and from now on this
                // handler passes WebSocket frames through untouched.
                upgraded = true
                finished = true
                timer?.cancel()
                context.write(data, promise: promise)
                return
            }
            if let refused = refusal, head.status == .badRequest, head.headers[canonicalForm: "content-length"].first == "0" {
                refusal = nil
                replacingRefusedUpgrade = refused
                var headers = HTTPHeaders(refused.headers)
                headers.replaceOrAdd(name: "Content-Length", value: String(refused.body.readableBytes))
                headers.replaceOrAdd(name: "Connection", value: "close")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: refused.status), headers: headers))),
                              promise: promise)
                return
            }
            refusal = nil
            responding = true
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            endResponse(context, data, promise: promise)
        }
    }

    private func endResponse(_ context: ChannelHandlerContext, _ data: NIOAny, promise: EventLoopPromise<Void>?) {
        responding = false
        unanswered = max(0, unanswered - 1)
        if unanswered == 0 {
            idleSince = .now()
            activity.awaitingHead = !readingBody
        }
        if closeAfterResponse && unanswered == 0 {
            finished = true
            context.writeAndFlush(data, promise: promise)
            context.close(promise: nil)
        } else if let status = deferredError, unanswered == 0 {
            deferredError = nil
            context.write(data, promise: promise)
            respond(context, status)
        } else {
            context.write(data, promise: promise)
        }
    }

    /// Writes a complete error response with `Connection: close`, then closes: output first, so
    /// the client reads the answer before the connection goes.
    private func respond(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, code: String? = nil, message: String? = nil) {
        guard !finished else { return }
        finished = true
        let (defaultCode, defaultMessage): (String, String) = status == .requestHeaderFieldsTooLarge
            ? ("headers_too_large", "the request's headers are larger than the server accepts")
            : ("malformed_request", "the request is not valid HTTP/1.1 (request line, target, headers or chunked body)")
        let body = GuardResponse.body(code: code ?? defaultCode, message: message ?? defaultMessage)
        let headers = HTTPHeaders([("Content-Type", "application/json; charset=utf-8"), ("Content-Length", String(body.readableBytes)),
                                   ("Connection", "close")])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            // Whatever the client still sends is not read; the connection is gone in a moment
            // (usually sooner: the client closes when it has read the answer).
            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }
}

/// A refused WebSocket upgrade's answer. Hummingbird answers a refused upgrade with an empty
/// 400; `RequestMiddleware` records the router's error response here so the client gets the
/// same status and error envelope as on any HTTP route.
struct WebSocketRefusal: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: ByteBuffer

    /// Hands the answer to the connection's `HTTPGuardHandler`, which writes it instead.
    static func record(_ refusal: WebSocketRefusal, on channel: any Channel) async {
        try? await channel.eventLoop.submit {
            let handler = try channel.pipeline.syncOperations.handler(type: HTTPGuardHandler.self)
            handler.refusal = refusal
        }.get()
    }
}

extension WebSocketRefusal {
    init(_ error: ParleyError, requestID: String) {
        var headers = [("Content-Type", "application/json; charset=utf-8")]
        if error.kind == .unauthorized { headers.append(("WWW-Authenticate", "Bearer")) }
        self.init(status: Int(ErrorMapping.status(for: error.kind).code), headers: headers, body: ErrorMapping.body(for: error, requestID: requestID))
    }
}

extension ConnectionGuard {
    init(_ settings: TransportSettings, logger: Logger) {
        let registry = ConnectionRegistry(maxPerAddress: settings.maxConnectionsPerAddress)
        self.init(settings: settings, registry: registry,
                  drain: ShutdownDrain(grace: .seconds(settings.shutdownGraceSeconds), connections: registry, logger: logger))
    }
}
