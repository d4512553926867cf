import Foundation
import Hummingbird
import ParleyAgent
import ParleyCore
import ParleyHTTP

/// `/v1/handoffs`: the inbox of conversations handed to people (issue 12).
struct HandoffController {
    let handoffs: HandoffService
    let maxBodyBytes: Int

    struct Reply: Decodable { var text: String }
    struct HandBack: Decodable { var note: String? }

    static func view(_ h: Handoff) -> [String: JSONValue] {
        [
            "handoff_id": .string(h.id), "session_id": AgentViews.text(h.sessionID), "workflow_id": .string(h.workflowID),
            "state": .string(h.state.rawValue), "trigger": .string(h.trigger), "reason": .string(h.reason), "summary": AgentViews.text(h.summary),
            "claimed_by": AgentViews.text(h.claimedBy), "claimed_at": AgentViews.date(h.claimedAt),
            "returned_by": AgentViews.text(h.returnedBy), "returned_at": AgentViews.date(h.returnedAt), "note": AgentViews.text(h.note),
            "created_at": AgentViews.date(h.createdAt), "updated_at": AgentViews.date(h.updatedAt),
        ]
    }

    static func conversation(_ c: HandoffService.Conversation) -> JSONValue {
        var body = view(c.handoff)
        body["session"] = c.session.map(AgentViews.session) ?? .null
        body["messages"] = .array(c.messages.map(AgentViews.message))
        body["runs"] = .array(c.runs.map { run in
            var w = AgentViews.workflow(run.workflow)
            w["events"] = .array(run.events.map(\.json))
            return .object(w)
        })
        return .object(body)
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/handoffs", query: Paging.parameters + ["state"]) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            var states: [HandoffState] = [.open, .claimed]
            if let raw = req.queryString("state") {
                states = try raw.split(separator: ",").map { part -> HandoffState in
                    guard let s = HandoffState(rawValue: part.trimmingCharacters(in: .whitespaces).lowercased()) else {
                        throw ParleyError.badRequest("state must be one or more of \(HandoffState.allCases.map(\.rawValue).joined(separator: ", ")) (comma-separated)",
                                                     code: "invalid_query")
                    }
                    return s
                }
            }
            let list = try await handoffs.list(try ctx.caller(), states: states, before: query.cursor, limit: query.fetchLimit)
            let page = Paging.page(list, limit: query.limit, cursor: \.id)
            return RawJSON(value: ["data": .array(page.rows.map { .object(Self.view($0)) }), "next_cursor": AgentViews.text(page.next)])
        }
        r.on(.get, "/handoffs/:id") { _, ctx in
            RawJSON(value: Self.conversation(try await handoffs.conversation(try ctx.caller(), id: try ctx.parameters.require("id"))))
        }
        r.on(.post, "/handoffs/:id/claim") { _, ctx in
            RawJSON(value: .object(Self.view(try await handoffs.claim(try ctx.action(), id: try ctx.parameters.require("id")))))
        }
        r.on(.post, "/handoffs/:id/messages") { req, ctx in
            let body = try await req.decodeJSON(Reply.self, limit: maxBodyBytes)
            let (handoff, event) = try await handoffs.reply(try ctx.action(), id: try ctx.parameters.require("id"), text: body.text)
            return RawJSON(value: ["handoff": .object(Self.view(handoff)), "event": event.json], status: .created)
        }
        r.on(.post, "/handoffs/:id/return") { req, ctx in
            // The note is optional: an empty body hands back without one.
            var request = req
            let buffer = try await request.collectBody(upTo: maxBodyBytes)
            let body = buffer.readableBytes == 0 ? HandBack() : try await request.decodeJSON(HandBack.self, limit: maxBodyBytes)
            return RawJSON(value: .object(Self.view(try await handoffs.handBack(try ctx.action(), id: try ctx.parameters.require("id"), note: body.note))))
        }
    }
}
