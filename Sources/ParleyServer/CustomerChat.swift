import Foundation
import ParleyAgent
import ParleyConvert
import ParleyCore
import ParleyPlatform
import ParleyStorage
import SQLKit

/// A visitor of a tenant's public chat page: one conversation (an agent session), known by a
/// random token of which only the SHA-256 is stored.
struct Visitor: Sendable, Equatable {
    var id: String
    var tenantID: String
    var sessionID: String

    /// The visitor as the agent sees it: the least role there is.
    var principal: Principal { Principal(tenantID: tenantID, keyID: nil, role: .customer, actor: "visitor:\(id)") }
    /// Reads of the visitor's own session, made after the service checked that they are its own.
    var reader: Principal { Principal(tenantID: tenantID, keyID: nil, role: .viewer, actor: "visitor:\(id)") }
}

struct ChatAttachment: Sendable, Equatable {
    var id: String
    var filename: String
    var contentType: String
    var sizeBytes: Int
    var characters: Int
    var truncated: Bool
}

/// The public customer chat (`/c/{slug}`): conversations for visitors without an API key,
/// protected by the tenant's public widget key, its origin allow-list, per-visitor and
/// per-address rate limits and size limits. A visitor only ever reaches its own session.
struct CustomerChatService: Sendable {
    let widgets: WidgetSettingsService
    let agent: AgentService
    let store: any Store
    let clock: any Clock
    let settings: CustomerChatSettings
    let converter: DocumentConverter
    /// The chat's own buckets (`chat_visitor`, `chat_address`, `chat_sessions`), shared by the
    /// replicas on PostgreSQL.
    let limiter: any RateLimiter

    static let tokenPrefix = "pv_"

    init(widgets: WidgetSettingsService, agent: AgentService, store: any Store, clock: any Clock, settings: CustomerChatSettings,
         limiter: any RateLimiter) {
        self.widgets = widgets
        self.agent = agent
        self.store = store
        self.clock = clock
        self.settings = settings
        self.converter = DocumentConverter(limits: ConversionLimits(maxInputBytes: settings.attachmentMaxBytes))
        self.limiter = limiter
    }

    // MARK: the tenant's page

    /// The tenant and settings behind `/c/{slug}`: 404 when there is none or it is switched off.
    func page(_ slug: String) async throws -> (Tenant, WidgetSettings) {
        guard let found = try await widgets.published(slug: slug) else {
            throw ParleyError.notFound("there is no chat page at /c/\(slug.prefix(100)); check the address (the business may have switched it off)",
                                       code: "chat_not_found")
        }
        return found
    }

    /// A browser's `Origin` must be this server's own (the page Parley serves) or one the tenant
    /// allowed; clients that send none (not a browser page) pass.
    static func checkOrigin(_ origin: String?, own: [String], settings: WidgetSettings) throws(ParleyError) {
        guard let origin else { return }
        let o = origin.lowercased()
        guard own.contains(o) || settings.allowedOrigins.contains(o) else {
            throw .init(.forbidden, code: "origin_not_allowed",
                        "this chat may not be used from \(origin.prefix(200)); the business must add the site's origin to the chat widget's allowed_origins")
        }
    }

    static func checkKey(_ key: String?, settings: WidgetSettings) throws(ParleyError) {
        guard let key, !key.isEmpty else {
            throw .init(.unauthorized, code: "widget_key_required", "send the chat widget's public key in the X-Parley-Widget-Key header")
        }
        guard let expected = settings.publicKey, constantTimeEquals(Array(key.utf8), Array(expected.utf8)) else {
            throw .init(.unauthorized, code: "invalid_widget_key",
                        "the chat widget's key is not this business's current key (it may have been rotated); copy the current key from the widget settings")
        }
    }

    // MARK: visitors

    /// Starts a conversation: a new agent session and a visitor token for it (returned once).
    func startConversation(tenant: Tenant, address: String, origin: String?, requestID: String) async throws -> (token: String, visitor: Visitor, expiresAt: Date) {
        try await limiter.enforce(.chatSessions, key: "\(tenant.id)|\(address)", tenantID: tenant.id)
        let now = clock.now()
        let visitorID = UUIDv7.make(at: now)
        let customer = Principal(tenantID: tenant.id, keyID: nil, role: .customer, actor: "visitor:\(visitorID)")
        // Titled so staff tell visitors' conversations apart in the console's list.
        let session = try await agent.createSession(ActionContext(principal: customer, requestID: requestID), title: "Chat page visitor")
        let token = Self.tokenPrefix + String(APIKeySecret.generate().dropFirst(APIKeySecret.scheme.count))
        let expires = now.addingTimeInterval(Double(settings.visitorDays) * 86_400)
        let visitor = Visitor(id: visitorID, tenantID: tenant.id, sessionID: session.id)
        try await store.transaction { db in
            try await db.raw("""
                INSERT INTO chat_visitors (id, tenant_id, session_id, token_hash, origin, created_at, expires_at)
                VALUES (\(bind: visitorID), \(bind: tenant.id), \(bind: session.id), \(bind: APIKeySecret.hash(token)), \(bind: origin.map { String($0.prefix(300)) }),
                        \(bind: now), \(bind: expires))
                """).run()
        }
        return (token, visitor, expires)
    }

    /// The visitor behind `Authorization: Bearer pv_...`, in this tenant only.
    func visitor(tenant: Tenant, authorization: String?) async throws -> Visitor {
        guard let header = authorization, header.lowercased().hasPrefix("bearer ") else {
            throw ParleyError(.unauthorized, code: "visitor_token_required",
                              "start a conversation with POST /c/{slug}/api/sessions, then send its visitor_token as 'Authorization: Bearer <token>'")
        }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        let invalid = ParleyError(.unauthorized, code: "invalid_visitor_token", "the visitor token is unknown or has expired; start a new conversation")
        guard token.hasPrefix(Self.tokenPrefix), token.count <= 100 else { throw invalid }
        let hash = APIKeySecret.hash(token)
        let row = try await store.read { db in
            try await db.raw("SELECT id, session_id, token_hash, expires_at FROM chat_visitors WHERE tenant_id = \(bind: tenant.id) AND token_hash = \(bind: hash)").first()
        }
        guard let row, APIKeySecret.matches(token, hash: try row.decode(column: "token_hash", as: String.self)),
              try row.decode(column: "expires_at", as: Date.self) > clock.now() else { throw invalid }
        return Visitor(id: try row.decode(column: "id", as: String.self), tenantID: tenant.id, sessionID: try row.decode(column: "session_id", as: String.self))
    }

    // MARK: the conversation

    /// Sends the visitor's text (with the files attached since its last message) to the agent.
    func send(_ visitor: Visitor, text: String, address: String, requestID: String) async throws -> Workflow {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw ParleyError.badRequest("the message is empty; write some text", code: "empty_message") }
        try await limiter.enforce([(.chatVisitor, visitor.id), (.chatAddress, "\(visitor.tenantID)|\(address)")], tenantID: visitor.tenantID)
        let pending = try await store.read { db in
            try await db.raw("""
                SELECT id, filename, markdown FROM chat_attachments
                WHERE tenant_id = \(bind: visitor.tenantID) AND visitor_id = \(bind: visitor.id) AND workflow_id IS NULL ORDER BY id
                """).all().map { (id: try $0.decode(column: "id", as: String.self), name: try $0.decode(column: "filename", as: String.self),
                                  markdown: try $0.decode(column: "markdown", as: String.self)) }
        }
        var message = trimmed
        var budget = settings.attachmentTextCharacters
        for file in pending where budget > 0 {
            let body = String(file.markdown.prefix(budget))
            budget -= body.count
            message += "\n\n---\nAttached file \"\(file.name)\" (as Markdown\(body.count < file.markdown.count ? ", cut short" : "")):\n\n\(body)"
        }
        let workflow = try await agent.start(ActionContext(principal: visitor.principal, requestID: requestID), message: message, sessionID: visitor.sessionID)
        if !pending.isEmpty {
            let ids = SQLList(pending.map { SQLBind($0.id) })
            try await store.transaction { db in
                try await db.raw("""
                    UPDATE chat_attachments SET workflow_id = \(bind: workflow.id)
                    WHERE tenant_id = \(bind: visitor.tenantID) AND visitor_id = \(bind: visitor.id) AND id IN (\(ids))
                    """).run()
            }
        }
        return workflow
    }

    /// The visitor's conversation so far.
    func messages(_ visitor: Visitor, after: String?) async throws -> [SessionMessage] {
        try await agent.messages(visitor.reader, sessionID: visitor.sessionID, after: after, limit: 500)
    }

    /// Follows one of the visitor's runs (by default the latest) after `after`, showing only what
    /// a customer should see. Another session's run is "not found", exactly like a missing one.
    func follow(_ visitor: Visitor, workflowID: String?, after: Int) async throws -> AsyncStream<StreamItem> {
        let id: String
        if let workflowID {
            var run: Workflow?
            do {
                run = try await agent.workflow(visitor.reader, id: workflowID)
            } catch let error as ParleyError where error.kind == .notFound || error.kind == .badRequest {
                run = nil  // a malformed id is as unknown as a missing one
            }
            guard let run, run.sessionID == visitor.sessionID else {
                throw ParleyError.notFound("there is no run \(workflowID.prefix(64)) in this conversation", code: "workflow_not_found")
            }
            id = run.id
        } else {
            guard let latest = try await agent.list(visitor.reader, .init(sessionID: visitor.sessionID, limit: 1)).first else {
                throw ParleyError.notFound("this conversation has no messages yet; send one first", code: "workflow_not_found")
            }
            id = latest.id
        }
        return Self.customerView(try await agent.follow(visitor.reader, workflowID: id, after: after))
    }

    /// What a customer sees of a run: the answer, its sources, hand-off notices and the person's
    /// replies, the run's start and end; tool calls only by name, never their input or output.
    static let visibleTypes: Set<String> = [
        EventType.workflowStarted, EventType.textDelta, EventType.workflowCompleted, EventType.workflowError,
        "citation", "handoff", "human_message", "handback", "escalation", "customer_message",
    ]

    /// Fields written for staff (docs/events.md), left out of a customer's stream: the staff
    /// summary and trigger of a hand-off, the note a person leaves for the agent, key ids.
    static let staffFields: [String: Set<String>] = [
        EventType.workflowStarted: ["initial_prompt"],
        "handoff": ["summary", "reason", "trigger"],
        "handback": ["note", "actor"],
        "human_message": ["actor"],
        "escalation": ["summary", "reason", "trigger"],
    ]

    static func customerView(_ source: AsyncStream<StreamItem>) -> AsyncStream<StreamItem> {
        let (out, continuation) = AsyncStream.makeStream(of: StreamItem.self)
        let task = Task {
            for await item in source {
                guard case .event(var e) = item else { continuation.yield(item); continue }
                if e.type == EventType.toolStart {
                    e.fields = ["tool": e.fields["tool"] ?? .null]
                } else if !visibleTypes.contains(e.type) {
                    continue
                }
                for field in staffFields[e.type] ?? [] { e.fields[field] = nil }
                continuation.yield(.event(e))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return out
    }

    // MARK: attachments

    /// Converts an uploaded file to Markdown and keeps it for the visitor's next message.
    func attach(_ visitor: Visitor, bytes: [UInt8], filename: String, contentType: String?, address: String) async throws -> ChatAttachment {
        try await limiter.enforce(.chatVisitor, key: visitor.id, tenantID: visitor.tenantID)
        guard bytes.count <= settings.attachmentMaxBytes else { throw Self.tooLarge(bytes.count, settings.attachmentMaxBytes) }
        guard !bytes.isEmpty else { throw ParleyError.badRequest("the file is empty", code: "empty_attachment") }
        let converted = try converter.convert(bytes, filename: filename, contentType: contentType)
        let markdown = String(converted.markdown.prefix(settings.attachmentTextCharacters))
        let now = clock.now()
        let declared = contentType.map { String($0.trimmingCharacters(in: .whitespaces).prefix(100)) }.flatMap { $0.isEmpty ? nil : $0 }
        let attachment = ChatAttachment(id: UUIDv7.make(at: now), filename: filename, contentType: declared ?? "application/octet-stream",
                                        sizeBytes: bytes.count, characters: markdown.count, truncated: markdown.count < converted.markdown.count)
        try await store.transaction { db in
            try await db.raw("""
                INSERT INTO chat_attachments (id, tenant_id, visitor_id, filename, content_type, size_bytes, markdown, workflow_id, created_at)
                VALUES (\(bind: attachment.id), \(bind: visitor.tenantID), \(bind: visitor.id), \(bind: filename), \(bind: attachment.contentType),
                        \(bind: bytes.count), \(bind: markdown), \(bind: String?.none), \(bind: now))
                """).run()
        }
        return attachment
    }

    static func tooLarge(_ size: Int, _ limit: Int) -> ParleyError {
        ParleyError(.payloadTooLarge, code: "attachment_too_large", "the file is \(size) bytes; the largest accepted is \(limit) bytes")
    }

    /// A file name as the visitor gave it, made safe to show and store: no path, no control characters.
    static func filename(_ raw: String?) throws(ParleyError) -> String {
        let decoded = raw.flatMap { $0.removingPercentEncoding } ?? raw ?? ""
        let base = decoded.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let clean = String(base.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }).trimmingCharacters(in: .whitespaces)
        guard !clean.isEmpty, clean.count <= 200 else {
            throw .badRequest("name the file in the X-Filename header (1 to 200 characters, percent-encoded), e.g. X-Filename: order%20list.csv",
                              code: "invalid_filename")
        }
        return clean
    }
}
