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
            defer { metrics.streamClosed() }
            let (out, sink) = AsyncStream.makeStream(of: String.self)
            let session = Session(agent: agent, principal: principal, requestID: requestID, sink: sink)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await text in out { try await outbound.write(.text(text)) }
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

        init(agent: AgentService, principal: Principal, requestID: String, sink: AsyncStream<String>.Continuation) {
            self.agent = agent
            self.principal = principal
            self.requestID = requestID
            self.sink = sink
        }

        var action: ActionContext { ActionContext(principal: principal, requestID: requestID) }

        func error(_ code: String, _ message: String) {
            sink.yield(JSONValue.object(["type": "error", "code": .string(code), "message": .string(message)]).serialized())
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
                    if case .event(let e) = item { sink.yield(e.json.serialized()) }
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
