import Foundation
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyHTTP
import ParleyPackKit

/// The legal document-collection pack: cases, requested documents, reminders, upload links.
public enum LegalPack {
    public static var pack: DomainPack {
        DomainPack(name: "legal", migrations: LegalSchema.migrations,
                   tools: [lookupCase, getCaseDetails, createCase, updateDocumentStatus, listPendingReminders, composeEmail, sendEmail,
                           listCases, closeCase, uploadLink],
                   intents: LegalIntents.all, templates: templates, systemPromptTemplate: "legal.system_prompt",
                   settings: LegalSettings.documentation, validateSettings: { config throws(ConfigError) in _ = try LegalSettings.load(config) },
                   commands: LegalCommands.all,
                   consoleViews: [ConsoleView(route: "cases", label: "Cases", export: "casesView", file: "cases.js", files: ConsolePart.files)],
                   openAPI: OpenAPIPart.yaml, purgeTargets: LegalSchema.purgeTargets, bind: bind)
    }

    /// Binds the pack to a process: the environment its tools, routes and trigger share.
    static func bind(_ context: PackContext) throws -> PackRuntime {
        let environment = LegalEnvironment(keyring: context.keyring, publicBaseURL: context.publicBaseURL, settings: try LegalSettings.load(context.config),
                                           maxAttempts: context.maxAttempts, wake: context.wake, retention: context.config.retention)
        let cases = CaseService(store: context.store, clock: context.clock, environment: environment)
        let controller = LegalController(cases: cases, maxBodyBytes: context.config.maxBodyBytes)
        return PackRuntime(
            services: [environment],
            triggers: triggers(LegalRuntime(store: context.store, clock: context.clock, environment: environment)),
            routes: { controller.register($0) },
            publicRoutes: [PublicRoutes(prefix: "upload", maxBodyBytes: environment.settings.uploadMaxBytes) { controller.registerPublic($0) }],
            routeRules: routeRules)
    }

    /// What the pack's routes that change something need from the caller.
    static let routeRules: [RouteRule] = [
        RouteRule("POST /v1/cases/search", .readTenant, "search cases"),
        RouteRule("POST /v1/cases", .act, "create cases"),
        RouteRule("PATCH /v1/cases/:case_id", .act, "change cases"),
        RouteRule("POST /v1/cases/:case_id/close", .act, "close cases"),
        RouteRule("DELETE /v1/cases/:case_id", .operate, "delete cases"),
        RouteRule("POST /v1/cases/:case_id/restore", .operate, "restore cases"),
        RouteRule("POST /v1/cases/:case_id/upload-link", .act, "create upload links"),
        RouteRule("PUT /v1/cases/documents/:requested_doc_id", .act, "change requested documents"),
        RouteRule("POST /v1/send-email", .act, "send emails to clients"),
    ]

    public static func triggers(_ runtime: LegalRuntime) -> [TriggerDefinition] { [LegalReminders.definition(runtime)] }

    public static var templates: [MessageTemplate] { LegalTemplates.all }

    public static let defaultSystemPrompt = """
        You are the document-collection assistant of a law firm. Paralegals ask you to find cases, \
        create them, see what each client still owes, and remind clients. Rules:
        - Find a case with lookup_case_by_name before acting on it. When several clients match, list them \
        with their email, phone, case number and creation date and ask which one; never guess between two people.
        - A new case needs the client's name, email and at least one requested document; ask for what is missing.
        - Write reminders with compose_email (initial_reminder, follow_up_reminder, urgent_reminder); they list \
        exactly the outstanding documents and the client's upload link.
        - send_email only ever goes to the client's email address on record. Never send to an address given in \
        the conversation, whoever asks.
        - send_email's result says when the email goes out: status held_for_quiet_hours means it is queued until \
        scheduled_local_time (the firm's time zone); say so, and never call such an email sent.
        - Be concise and professional; never invent case data.
        """

    static func service(_ ctx: ToolContext) throws -> CaseService {
        guard let env = ctx.services[LegalEnvironment.self] else {
            throw ToolError("the legal pack is not configured on this server")
        }
        return CaseService(store: ctx.store, clock: ctx.clock, environment: env)
    }

    static let emailTypes: JSONValue = .array(EmailType.allCases.map { .string($0.rawValue) })

    static let lookupCase = Tool(
        name: "lookup_case_by_name",
        description: """
            Find cases by client name, tolerant of typos, nicknames, word order and accents. Returns the matches with \
            distinguishing details; when several clients match closely, ask the user which one (never guess).
            """,
        inputSchema: ["type": "object", "properties": [
            "client_name": ["type": "string", "minLength": 1, "maxLength": 200],
            "status": ["type": "string", "enum": ["OPEN", "CLOSED", "ANY"]],
        ], "required": ["client_name"], "additionalProperties": false],
        permission: .readTenant
    ) { input, ctx in
        let status: CaseStatus? = input["status"]?.stringValue == "ANY" ? nil : CaseStatus(rawValue: input["status"]?.stringValue ?? "OPEN")
        let name = input["client_name"]?.stringValue ?? ""
        let s = try service(ctx)
        var found = try await s.search(ctx.action.principal, CaseSearch(clientName: name, threshold: NameMatcher.defaultThreshold, limit: 5, status: status))
        // "Maria" alone: a first (or last) name agreeing scores 0.5; every such client is a candidate.
        if found.cases.isEmpty, NameNormalizer.tokens(name).count == 1 {
            found = try await s.search(ctx.action.principal, CaseSearch(clientName: name, threshold: 0.5, limit: 5, status: status))
        }
        let matches = found.cases
        // Close scores on different people cannot be told apart by name: the user must choose.
        let top = matches.first?.matchScore ?? 0
        let close = matches.filter { ($0.matchScore ?? 0) >= top - 0.08 }
        return ["matches": .array(matches.map(LegalViews.summary)), "total_found": .number(Double(found.totalFound)),
                "ambiguous": .bool(close.count > 1)]
    }

    static let getCaseDetails = Tool(
        name: "get_case_details",
        description: "Get a case with its requested documents (and their status), communication history and uploads, by case_id or case_number.",
        inputSchema: ["type": "object", "properties": [
            "case_id": ["type": "string"], "case_number": ["type": "string", "maxLength": 40],
        ], "additionalProperties": false],
        permission: .readTenant
    ) { input, ctx in
        let s = try service(ctx)
        if let id = input["case_id"]?.stringValue { return LegalViews.detail(try await s.get(ctx.action.principal, id: id)) }
        if let number = input["case_number"]?.stringValue { return LegalViews.detail(try await s.find(ctx.action.principal, caseNumber: number)) }
        throw ToolError("give case_id or case_number")
    }

    static let createCase = Tool(
        name: "create_case",
        description: "Create a case for a client with the documents to request from them (at least one).",
        inputSchema: ["type": "object", "properties": [
            "client_name": ["type": "string", "minLength": 1, "maxLength": 200],
            "client_email": ["type": "string", "minLength": 3, "maxLength": 254],
            "client_phone": ["type": "string", "maxLength": 40],
            "requested_documents": ["type": ["array", "string"], "description": "Document names, or a comma-separated string"],
        ], "required": ["client_name", "client_email", "requested_documents"], "additionalProperties": false],
        permission: .act
    ) { input, ctx in
        LegalViews.detail(try await service(ctx).create(ctx.action, try CaseInput.newCase(input)))
    }

    static let updateDocumentStatus = Tool(
        name: "update_document_status",
        description: "Set a requested document's status (requested, received, accepted, rejected) and notes.",
        inputSchema: ["type": "object", "properties": [
            "requested_doc_id": ["type": "string"],
            "status": ["type": "string", "enum": .array(DocumentStatus.allCases.map { .string($0.rawValue) })],
            "is_completed": ["type": "boolean"], "notes": ["type": "string", "maxLength": 2000],
        ], "required": ["requested_doc_id"], "additionalProperties": false],
        permission: .act
    ) { input, ctx in
        let update = CaseService.DocumentUpdate(status: input["status"]?.stringValue.flatMap(DocumentStatus.init(rawValue:)),
                                                isCompleted: input["is_completed"]?.boolValue, notes: input["notes"]?.stringValue)
        return LegalViews.document(try await service(ctx).updateDocument(ctx.action, id: input["requested_doc_id"]?.stringValue ?? "", update))
    }

    static let listPendingReminders = Tool(
        name: "list_pending_reminders",
        description: "List open cases whose outstanding documents are due a reminder, with the suggested email type.",
        inputSchema: ["type": "object", "properties": [:], "additionalProperties": false],
        permission: .readTenant
    ) { _, ctx in
        let pending = try await service(ctx).pendingReminders(ctx.action.principal)
        return ["cases": .array(pending.map(LegalViews.reminder)), "total": .number(Double(pending.count))]
    }

    static let composeEmail = Tool(
        name: "compose_email",
        description: "Write a reminder for a case from the firm's template, listing exactly its outstanding documents and the upload link. Does not send.",
        inputSchema: ["type": "object", "properties": [
            "case_id": ["type": "string"], "email_type": ["type": "string", "enum": emailTypes],
        ], "required": ["case_id", "email_type"], "additionalProperties": false],
        permission: .readTenant
    ) { input, ctx in
        let type = EmailType(rawValue: input["email_type"]?.stringValue ?? "") ?? .initialReminder
        return LegalViews.composed(try await service(ctx).compose(ctx.action.principal, caseID: input["case_id"]?.stringValue ?? "", type: type))
    }

    static let sendEmail = Tool(
        name: "send_email",
        description: """
            Send an email to a case's client at their address on record (the only address allowed), logged on the case. \
            Without subject and body, the firm's template for email_type is used.
            """,
        inputSchema: ["type": "object", "properties": [
            "case_id": ["type": "string"], "email_type": ["type": "string", "enum": emailTypes],
            "subject": ["type": "string", "maxLength": 300], "body": ["type": "string", "maxLength": 50000],
            "recipient_email": ["type": "string", "maxLength": 254, "description": "Must be the client's address on record; any other is refused"],
        ], "required": ["case_id", "email_type"], "additionalProperties": false],
        hasSideEffects: true, permission: .act
    ) { input, ctx in
        let type = EmailType(rawValue: input["email_type"]?.stringValue ?? "") ?? .followUpReminder
        let request = CaseService.SendRequest(caseID: input["case_id"]?.stringValue ?? "", emailType: type, subject: input["subject"]?.stringValue,
                                              body: input["body"]?.stringValue, recipient: input["recipient_email"]?.stringValue)
        let (comm, created) = try await service(ctx).send(ctx.action, request)
        return try await sent(comm, created: created, ctx)
    }
}
