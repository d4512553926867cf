import Foundation
import Hummingbird
import HummingbirdWebSocket
import ParleyAgent
import ParleyCore
import ParleyHTTP
import Synchronization

/// `/ws`: the same runs and events as the SSE endpoints over one socket.
///
/// In: `{"type":"message","session_id"?,"content"}`, `{"type":"cancel","workflow_id"?}`,
/// `{"type":"approve","workflow_id"?,"approval_id","decision"?,"comment"?}`,
/// `{"type":"subscribe","workflow_id","after"?}`. Out: event JSON objects (as on SSE, with
/// `seq`), and `{"type":"error","code","message"}` for a message that could not be served.
struct WebSocketController {
    let agent: AgentService
    let metrics: HTTPMetrics
    /// At shutdown each socket gets `{"type":"reconnect",...}` and close code 1012.
    let drain: ShutdownDrain

    func register(_ router: Router<ParleyRequestContext>, auth: AuthMiddleware) {
        router.group("ws").add(middleware: auth).ws("", shouldUpgrade: { request, _ in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                throw ParleyError(.badRequest, code: "upgrade_required", "/ws is a WebSocket endpoint; connect with a WebSocket client")
            }
            return .upgrade([:])
        }) { inbound, outbound, context in
            let principal = try context.requestContext.caller()
            let requestID = context.requestContext.requestID
            metrics.streamOpened()
            let ticket = drain.socketOpened()
            defer {
                metrics.streamClosed()
                ticket.done()
            }
            let (out, sink) = AsyncStream.makeStream(of: String.self)
            let session = Session(agent: agent, principal: principal, requestID: requestID, sink: sink)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await text in out { try await outbound.write(.text(text)) }
                    if drain.isDraining {
                        try await outbound.close(.unknown(1012), reason: "service restart: reconnect")
                    }
                    ticket.done()
                }
                group.addTask {
                    await drain.waitUntilDraining()
                    guard !Task.isCancelled else { return }
                    // The followed runs' streams end first (each with its own reconnect message).
                    await session.finishFollows()
                    session.send(["type": "reconnect", "reason": "server_shutdown", "retry_ms": .number(Double(ShutdownDrain.retryMilliseconds))])
                    session.sink.finish()
                }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message else {
                        session.error("unsupported_frame", "send JSON text frames")
                        continue
                    }
                    await session.handle(text)
                }
                session.close()
                group.cancelAll()
            }
        }
    }

    /// One connection's state: the runs it follows and the last one it started.
    final class Session: Sendable {
        let agent: AgentService
        let principal: Principal
        let requestID: String
        let sink: AsyncStream<String>.Continuation
        private let state = Mutex<(current: String?, follows: [Task<Void, Never>])>((nil, []))
        /// The last seq sent per run: a run followed twice (a message added to a handed-off
        /// conversation follows the hand-off's run again) sends each event once.
        private let sent = Mutex<[String: Int]>([:])

        init(agent: AgentService, principal: Principal, requestID: String, sink: AsyncStream<String>.Continuation) {
            self.agent = agent
            self.principal = principal
            self.requestID = requestID
            self.sink = sink
        }

        var action: ActionContext { ActionContext(principal: principal, requestID: requestID) }

        func error(_ code: String, _ message: String) {
            send(["type": "error", "code": .string(code), "message": .string(message)])
        }

        func send(_ message: JSONValue) {
            sink.yield(message.serialized())
        }

        /// Waits for the followed runs' streams to end (the hub ends them at shutdown).
        func finishFollows() async {
            for task in state.withLock({ $0.follows }) { await task.value }
        }

        func close() {
            for task in state.withLock({ $0.follows }) { task.cancel() }
            sink.finish()
        }

        func handle(_ text: String) async {
            guard let message = try? JSONValue.parse(text), let type = message["type"]?.stringValue else {
                error("invalid_json", "send a JSON object with a \"type\"")
                return
            }
            do {
                switch type {
                case "message":
                    let content = message["content"]?.stringValue ?? message["message"]?.stringValue ?? ""
                    let (run, stream) = try await agent.startAndFollow(action, message: content, sessionID: message["session_id"]?.stringValue)
                    forward(run.id, stream)
                case "subscribe":
                    guard let id = message["workflow_id"]?.stringValue else { return error("invalid_request", "subscribe needs a workflow_id") }
                    try await follow(id, after: message["after"]?.intValue ?? 0)
                case "cancel":
                    guard let id = message["workflow_id"]?.stringValue ?? state.withLock({ $0.current }) else {
                        return error("invalid_request", "there is no run to cancel")
                    }
                    _ = try await agent.cancel(action, workflowID: id)
                case "approve", "deny":
                    guard let id = message["workflow_id"]?.stringValue ?? state.withLock({ $0.current }),
                          let approvalID = message["approval_id"]?.stringValue else {
                        return error("invalid_request", "approve needs an approval_id (and a workflow_id unless it is the current run)")
                    }
                    let decisionText = message["decision"]?.stringValue?.lowercased() ?? (type == "deny" ? "deny" : "approve")
                    guard let decision = ApprovalDecision(rawValue: decisionText) else {
                        return error("invalid_decision", "decision must be \"approve\" or \"deny\"")
                    }
                    _ = try await agent.decide(action, workflowID: id, approvalID: approvalID, decision: decision, comment: message["comment"]?.stringValue)
                default:
                    error("unknown_type", "type must be message, subscribe, cancel, approve or deny")
                }
            } catch let e as ParleyError {
                error(e.code, e.message)
            } catch {
                self.error("internal_error", "the request could not be served")
            }
        }

        private func follow(_ workflowID: String, after: Int) async throws {
            forward(workflowID, try await agent.follow(principal, workflowID: workflowID, after: after))
        }

        private func forward(_ workflowID: String, _ stream: AsyncStream<StreamItem>) {
            let sink = self.sink
            let task = Task {
                for await item in stream {
                    switch item {
                    case .event(let e):
                        let fresh = self.sent.withLock { sent in
                            guard e.seq > sent[e.workflowID, default: 0] else { return false }
                            sent[e.workflowID] = e.seq
                            return true
                        }
                        if fresh { sink.yield(e.json.serialized()) }
                    case .reconnect(let workflowID, let lastSeq, let at): sink.yield(SSE.reconnectJSON(workflowID, lastSeq, at).serialized())
                    case .heartbeat: break
                    }
                }
            }
            state.withLock { s in
                s.current = workflowID
                s.follows.removeAll { $0.isCancelled }
                s.follows.append(task)
            }
        }
    }
}
