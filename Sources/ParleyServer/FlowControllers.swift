import Foundation
import Hummingbird
import ParleyCore
import ParleyFlows
import ParleyHTTP

/// `/v1/flows`: workflow definitions as data, their versions, and their executions (issue 14).
struct FlowController {
    let flows: FlowService
    let metrics: HTTPMetrics
    let maxBodyBytes: Int

    static func execution(_ e: FlowExecution, steps: [FlowStepRun]? = nil) -> JSONValue {
        var o = e.json.objectValue ?? [:]
        if let steps { o["steps"] = .array(steps.map(\.json)) }
        return .object(o)
    }

    /// `id:` is the event's seq (a reconnect carries none), `event:` its type, `data:` its JSON.
    static func encode(_ item: FlowStreamItem) -> String {
        switch item {
        case .event(let event):
            return "id: \(event.seq)\nevent: \(event.type)\ndata: \(event.json.serialized())\n\n"
        case .reconnect(let executionID, let lastSeq):
            let data: JSONValue = ["type": "reconnect", "execution_id": .string(executionID), "seq": .number(Double(lastSeq)), "reason": "server_shutdown",
                                   "retry_ms": .number(Double(ShutdownDrain.retryMilliseconds))]
            return "retry: \(ShutdownDrain.retryMilliseconds)\nevent: reconnect\ndata: \(data.serialized())\n\n"
        }
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/flows") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: FlowSpec.fields)
            return RawJSON(value: try await flows.create(try ctx.action(), body).json, status: .created)
        }
        r.on(.get, "/flows", query: Paging.parameters) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            let list = try await flows.list(try ctx.caller(), before: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: \.id)
            return RawJSON(value: Paging.envelope(page.rows.map(\.json), next: page.next))
        }
        // Executions first: `executions` is a fixed path under /flows, not a flow's name.
        r.on(.get, "/flows/executions", query: Paging.parameters + ["flow", "status"]) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            var status: FlowExecutionStatus?
            if let raw = req.queryString("status") {
                guard let s = FlowExecutionStatus(rawValue: raw) else {
                    throw ParleyError.badRequest("'status' must be one of \(FlowExecutionStatus.allCases.map(\.rawValue).joined(separator: ", "))", code: "invalid_query")
                }
                status = s
            }
            let list = try await flows.executions(try ctx.caller(), flow: req.queryString("flow"), status: status, before: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: \.id)
            return RawJSON(value: Paging.envelope(page.rows.map { Self.execution($0) }, next: page.next))
        }
        r.on(.get, "/flows/executions/:id") { _, ctx in
            let (e, steps) = try await flows.execution(try ctx.caller(), id: try ctx.parameters.require("id"))
            return RawJSON(value: Self.execution(e, steps: steps))
        }
        r.on(.post, "/flows/executions/:id/cancel") { _, ctx in
            RawJSON(value: Self.execution(try await flows.cancel(try ctx.action(), id: try ctx.parameters.require("id"))))
        }
        r.on(.post, "/flows/executions/:id/steps/:step/decision") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["decision", "comment"])
            let approve: Bool
            switch body["decision"]?.stringValue {
            case "approve": approve = true
            case "reject": approve = false
            default: throw ParleyError.badRequest("'decision' must be \"approve\" or \"reject\"", code: "invalid_decision")
            }
            var comment: String?
            if let c = body["comment"], c != .null {
                guard let s = c.stringValue, s.count <= 2000 else { throw ParleyError.badRequest("'comment' must be a text of at most 2000 characters", code: "invalid_decision") }
                comment = s
            }
            let row = try await flows.decide(try ctx.action(), id: try ctx.parameters.require("id"), step: try ctx.parameters.require("step"),
                                             approve: approve, comment: comment)
            return RawJSON(value: row.json)
        }
        r.on(.get, "/flows/executions/:id/events", query: ["after"]) { req, ctx in
            let after = try WorkflowController.cursor(req)
            let stream = try await flows.follow(try ctx.caller(), id: try ctx.parameters.require("id"), after: after)
            return SSE.response(stream, metrics: metrics, encode: Self.encode)
        }
        r.on(.get, "/flows/:id") { _, ctx in
            RawJSON(value: try await flows.get(try ctx.caller(), ref: try ctx.parameters.require("id")).json)
        }
        r.on(.patch, "/flows/:id") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: FlowSpec.fields)
            return RawJSON(value: try await flows.update(try ctx.action(), ref: try ctx.parameters.require("id"), body).json)
        }
        r.on(.delete, "/flows/:id") { _, ctx in
            RawJSON(value: try await flows.delete(try ctx.action(), ref: try ctx.parameters.require("id")).json)
        }
        r.on(.get, "/flows/:id/versions", query: Paging.parameters) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            let list = try await flows.versions(try ctx.caller(), ref: try ctx.parameters.require("id"),
                                                before: try AgentDefinitionController.versionCursor(query.cursor), limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: { String($0.version) })
            return RawJSON(value: Paging.envelope(page.rows.map(\.json), next: page.next))
        }
        r.on(.post, "/flows/:id/execute") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["input"])
            let e = try await flows.execute(try ctx.action(), ref: try ctx.parameters.require("id"), input: body["input"] ?? .object([:]))
            return RawJSON(value: Self.execution(e), status: .accepted)
        }
    }
}
