import Foundation
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit

extension AgentService {
    /// A customer's message while their session is with a person: stored, added to the
    /// hand-off's stream (`customer_message`) for staff, and not answered by the agent. The
    /// caller follows that stream from the message on, so it sees the person's reply in place.
    func messageDuringHandoff(_ ctx: ActionContext, text: String, sessionID: String, follow: Bool) async throws -> Begun {
        let tenantID = ctx.principal.tenantID
        let handoffs = HandoffRepository()
        let repo = self.repo
        guard let handoff = try await store.read({ db in try await handoffs.openForSession(tenantID: tenantID, sessionID: sessionID, on: db) }) else {
            throw ParleyError.conflict("session \(sessionID) is being handed back to the assistant; send the message again", code: "handoff_ended")
        }
        let subscription = follow ? runtime.hub.subscribe(handoff.workflowID) : nil
        let now = clock.now()
        let message = SessionMessage(id: UUIDv7.make(at: now), tenantID: tenantID, sessionID: sessionID, workflowID: handoff.workflowID,
                                     role: .user, content: text, createdAt: now)
        let before: Int
        do {
            before = try await RunRecorder.appendToIdleRun(workflowID: handoff.workflowID, tenantID: tenantID, store: store, hub: runtime.hub, clock: clock) { db in
                guard let current = try await handoffs.find(tenantID: tenantID, id: handoff.id, on: db), current.state.isOpen else {
                    throw ParleyError.conflict("session \(sessionID) was just handed back to the assistant; send the message again", code: "handoff_ended")
                }
                try await repo.appendMessage(message, on: db)
                try await handoffs.touch(tenantID: tenantID, id: handoff.id, at: now, on: db)
                let before = try await repo.lastSeq(workflowID: handoff.workflowID, on: db)
                return (before, [(EventType.customerMessage, [
                    "handoff_id": .string(handoff.id), "message_id": .string(message.id), "session_id": .string(sessionID), "text": .string(text),
                ])])
            }
        } catch {
            subscription?.cancel()
            throw error
        }
        let workflow = try await store.read { db in try await repo.findWorkflow(tenantID: tenantID, id: handoff.workflowID, on: db) }
        guard let workflow else {
            subscription?.cancel()
            throw ParleyError.notFound("workflow \(handoff.workflowID) not found", code: "workflow_not_found")
        }
        return Begun(workflow: workflow, subscription: subscription, after: before, replay: true)
    }
}

/// The hand-off inbox: staff read conversations handed to people, take them, reply in the
/// customer's stream and hand them back to the agent. Every method is scoped to the caller's tenant.
public struct HandoffService: Sendable {
    let agent: AgentService
    let repo = HandoffRepository()
    let agentRepo = AgentRepository()

    public init(agent: AgentService) {
        self.agent = agent
    }

    var store: any Store { agent.store }
    var clock: any Clock { agent.clock }

    public func list(_ principal: Principal, states: [HandoffState], before: String?, limit: Int) async throws -> [Handoff] {
        try principal.require(.readTenant)
        if let before { try AgentService.validateID(before, what: "handoff") }
        let tenantID = principal.tenantID
        return try await store.read { [repo] db in try await repo.list(tenantID: tenantID, states: states, before: before, limit: limit, on: db) }
    }

    public func get(_ principal: Principal, id: String) async throws -> Handoff {
        try principal.require(.readTenant)
        try AgentService.validateID(id, what: "handoff")
        let tenantID = principal.tenantID
        guard let h = try await store.read({ [repo] db in try await repo.find(tenantID: tenantID, id: id, on: db) }) else {
            throw ParleyError.notFound("hand-off \(id) not found", code: "handoff_not_found")
        }
        return h
    }

    /// A hand-off with everything staff need: the session, its messages and its runs' events
    /// (tool calls, citations, the hand-off's own events; streamed text is left out).
    public struct Conversation: Sendable {
        public var handoff: Handoff
        public var session: Session?
        public var messages: [SessionMessage]
        public var runs: [(workflow: Workflow, events: [WorkflowEvent])]
    }

    static let shownEvents: Set<String> = [
        EventType.workflowStarted, EventType.reasoningStep, EventType.toolStart, EventType.toolEnd, "citation",
        EventType.approvalRequired, EventType.approvalResolved, EventType.handoff, EventType.customerMessage,
        EventType.humanMessage, EventType.handback, EventType.workflowCompleted, EventType.workflowError,
    ]

    public func conversation(_ principal: Principal, id: String) async throws -> Conversation {
        let handoff = try await get(principal, id: id)
        let tenantID = principal.tenantID
        let agentRepo = self.agentRepo
        return try await store.read { db in
            var session: Session?
            var messages: [SessionMessage] = []
            var workflows: [Workflow] = []
            if let sessionID = handoff.sessionID {
                session = try await agentRepo.findSession(tenantID: tenantID, id: sessionID, on: db)
                messages = try await agentRepo.recentMessages(tenantID: tenantID, sessionID: sessionID, limit: 500, on: db)
                let filter = WorkflowFilter(status: nil, sessionID: sessionID, createdAfter: nil, createdBefore: nil, beforeID: nil, limit: 50)
                workflows = try await agentRepo.listWorkflows(tenantID: tenantID, filter: filter, on: db).reversed()
            } else if let w = try await agentRepo.findWorkflow(tenantID: tenantID, id: handoff.workflowID, on: db) {
                workflows = [w]
            }
            var runs: [(workflow: Workflow, events: [WorkflowEvent])] = []
            for w in workflows {
                let events = try await agentRepo.events(tenantID: tenantID, workflowID: w.id, after: 0, limit: 5000, on: db)
                runs.append((w, events.filter { Self.shownEvents.contains($0.type) }))
            }
            return Conversation(handoff: handoff, session: session, messages: messages, runs: runs)
        }
    }

    /// A staff member takes the hand-off. Taking one's own again changes nothing.
    public func claim(_ ctx: ActionContext, id: String) async throws -> Handoff {
        try ctx.principal.require(.operate, toDo: "take hand-offs")
        let current = try await get(ctx.principal, id: id)
        let tenantID = ctx.principal.tenantID
        let actor = ctx.principal.actor
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        return try await store.transaction(lockKey: RunRecorder.lockKey(for: current.workflowID)) { [repo] db in
            guard let h = try await repo.find(tenantID: tenantID, id: id, on: db) else {
                throw ParleyError.notFound("hand-off \(id) not found", code: "handoff_not_found")
            }
            try Self.requireOpen(h)
            if h.state == .claimed {
                if h.claimedBy == actor { return h }
                throw ParleyError.conflict("hand-off \(id) was already taken by \(h.claimedBy ?? "someone else")", code: "handoff_claimed")
            }
            try await repo.claim(tenantID: tenantID, id: id, by: actor, at: now, on: db)
            try await audit.record(ctx, action: "handoff.claim", targetType: "handoff", targetID: id, on: db)
            return try await repo.find(tenantID: tenantID, id: id, on: db) ?? h
        }
    }

    /// A staff member's reply: stored in the session and sent in the customer's stream as
    /// `human_message`. An unclaimed hand-off is taken by whoever replies first.
    public func reply(_ ctx: ActionContext, id: String, text raw: String) async throws -> (Handoff, WorkflowEvent) {
        try ctx.principal.require(.operate, toDo: "reply to hand-offs")
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ParleyError.badRequest("text is empty; send the reply's text", code: "empty_message") }
        guard !text.contains("\u{0}") else {
            throw ParleyError.badRequest("text contains a NUL character (\\u0000); remove it", code: "invalid_text")
        }
        let limit = agent.settings.maxMessageCharacters
        guard text.count <= limit else {
            throw ParleyError.badRequest("text has \(text.count) characters; the limit is \(limit)", code: "message_too_long")
        }
        let current = try await get(ctx.principal, id: id)
        try Self.requireOpen(current)
        let tenantID = ctx.principal.tenantID
        let actor = ctx.principal.actor
        let keyID = ctx.principal.keyID
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        let (repo, agentRepo) = (self.repo, self.agentRepo)
        let messageID = UUIDv7.make(at: now)
        let updated: Handoff = try await RunRecorder.appendToIdleRun(
            workflowID: current.workflowID, tenantID: tenantID, store: store, hub: agent.runtime.hub, clock: clock
        ) { db in
            guard let h = try await repo.find(tenantID: tenantID, id: id, on: db) else {
                throw ParleyError.notFound("hand-off \(id) not found", code: "handoff_not_found")
            }
            try Self.requireOpen(h)
            if h.state == .open { try await repo.claim(tenantID: tenantID, id: id, by: actor, at: now, on: db) } else {
                try await repo.touch(tenantID: tenantID, id: id, at: now, on: db)
            }
            if let sessionID = h.sessionID {
                try await agentRepo.appendMessage(SessionMessage(id: messageID, tenantID: tenantID, sessionID: sessionID, workflowID: h.workflowID,
                                                                 role: .staff, content: text, createdAt: now), on: db)
            }
            try await audit.record(ctx, action: "handoff.reply", targetType: "handoff", targetID: id,
                                   details: JSONValue.object(["characters": .number(Double(text.count))]).serialized(), on: db)
            let name = try await Self.staffName(tenantID: tenantID, keyID: keyID, on: db) ?? actor
            let fields: [String: JSONValue] = [
                "handoff_id": .string(id), "message_id": .string(messageID), "actor": .string(actor), "name": .string(name), "text": .string(text),
            ]
            return (try await repo.find(tenantID: tenantID, id: id, on: db) ?? h, [(EventType.humanMessage, fields)])
        }
        let event = try await store.read { db in
            try await agentRepo.events(tenantID: tenantID, workflowID: current.workflowID, after: 0, limit: 100_000, on: db)
                .last { $0.type == EventType.humanMessage && $0.fields["message_id"]?.stringValue == messageID }
        }
        guard let event else { throw ParleyError(.internalError, code: "internal_error", "the reply was not recorded") }
        return (updated, event)
    }

    /// Hands the conversation back: the session is the agent's again and the paused run goes on
    /// with everything said meanwhile (the customer's messages and the staff's replies) and
    /// the optional note in its context.
    public func handBack(_ ctx: ActionContext, id: String, note raw: String?) async throws -> Handoff {
        try ctx.principal.require(.operate, toDo: "hand conversations back to the assistant")
        let note = raw?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let note {
            guard !note.contains("\u{0}") else { throw ParleyError.badRequest("note contains a NUL character (\\u0000); remove it", code: "invalid_text") }
            guard note.count <= 2000 else { throw ParleyError.badRequest("note has \(note.count) characters; the limit is 2000", code: "note_too_long") }
        }
        let savedNote = note?.isEmpty == true ? nil : note
        let current = try await get(ctx.principal, id: id)
        try Self.requireOpen(current)
        let tenantID = ctx.principal.tenantID
        let actor = ctx.principal.actor
        let now = clock.now()
        let audit = AuditLog(clock: clock)
        let (repo, agentRepo) = (self.repo, self.agentRepo)
        let (returned, resume): (Handoff, Bool) = try await RunRecorder.appendToIdleRun(
            workflowID: current.workflowID, tenantID: tenantID, store: store, hub: agent.runtime.hub, clock: clock
        ) { db in
            guard let h = try await repo.find(tenantID: tenantID, id: id, on: db) else {
                throw ParleyError.notFound("hand-off \(id) not found", code: "handoff_not_found")
            }
            try Self.requireOpen(h)
            try await repo.markReturned(tenantID: tenantID, id: id, by: actor, note: savedNote, at: now, on: db)
            if let sessionID = h.sessionID {
                try await repo.setSessionMode(tenantID: tenantID, sessionID: sessionID, mode: .agent, at: now, on: db)
            }
            let resume = try await agentRepo.transition(tenantID: tenantID, id: h.workflowID, from: [.waitingHuman], to: .processing, at: now, on: db)
            try await audit.record(ctx, action: "handoff.return", targetType: "handoff", targetID: id,
                                   details: JSONValue.object(["note": .bool(savedNote != nil)]).serialized(), on: db)
            let fields: [String: JSONValue] = [
                "handoff_id": .string(id), "actor": .string(actor), "note": savedNote.map { JSONValue.string($0) } ?? .null,
                "at": .string(Timestamps.format(now)),
            ]
            return ((try await repo.find(tenantID: tenantID, id: id, on: db) ?? h, resume), [(EventType.handback, fields)])
        }
        if resume {
            try await agent.resume(tenantID: tenantID, workflowID: current.workflowID) { state, events in
                Self.continueAfterHandoff(&state, events: events, handoffID: id, note: savedNote)
            }
        }
        return returned
    }

    /// Adds what was said during the hand-off to the paused conversation: the customer's
    /// messages as user turns, the staff's as assistant turns naming them. When a person spoke
    /// last, or the customer said nothing meanwhile (the person dealt with what they asked), a
    /// hand-back marker gives the model its turn.
    static func continueAfterHandoff(_ state: inout RunState, events: [WorkflowEvent], handoffID: String, note: String?) {
        guard let start = events.lastIndex(where: { $0.type == EventType.handoff && $0.fields["handoff_id"]?.stringValue == handoffID }) else { return }
        var heardCustomer = false
        for event in events[(start + 1)...] {
            guard let text = event.fields["text"]?.stringValue else { continue }
            switch event.type {
            case EventType.customerMessage:
                state.messages.append(.user(text))
                heardCustomer = true
            case EventType.humanMessage:
                state.messages.append(.assistant(HandoffText.staff(event.fields["name"]?.stringValue ?? "A staff member", text)))
            default: continue
            }
        }
        if !heardCustomer || state.messages.last?.role != .user { state.messages.append(.user(HandoffText.handedBack)) }
        state.handbackNote = note
        state.pending = []
    }

    static func requireOpen(_ h: Handoff) throws {
        guard h.state.isOpen else {
            throw ParleyError.conflict("hand-off \(h.id) was already handed back to the assistant; only open hand-offs take replies, claims or hand-backs",
                                       code: "handoff_not_open")
        }
    }

    /// The API key's name, which staff recognise better than its id.
    static func staffName(tenantID: String, keyID: String?, on db: any SQLDatabase) async throws -> String? {
        guard let keyID else { return nil }
        return try await db.raw("SELECT name FROM api_keys WHERE tenant_id = \(bind: tenantID) AND id = \(bind: keyID)").first()?
            .decode(column: "name", as: String.self)
    }
}
