import Foundation
import ParleyAgent
import ParleyComms
import ParleyCore
import SQLKit

// Tools for the firm's list of cases, closing a case and a client's upload link, and what a sent
// email's delivery looks like to the agent (queued now, or held until quiet hours end).

extension CaseRepository {
    /// How many of the tenant's cases have `status` (and something outstanding), and the most recent.
    func overview(tenantID: String, status: CaseStatus?, outstandingOnly: Bool, limit: Int, on db: any SQLDatabase) async throws -> (total: Int, cases: [LegalCase]) {
        var filter: SQLQueryString = "c.tenant_id = \(bind: tenantID) AND c.deleted_at IS NULL"
        if let status { filter += " AND c.status = \(bind: status.rawValue)" }
        if outstandingOnly {
            filter += """
                 AND EXISTS (SELECT 1 FROM requested_documents d WHERE d.tenant_id = c.tenant_id AND d.case_id = c.id AND d.status IN ('requested', 'rejected'))
                """
        }
        let total = try await db.raw("SELECT COUNT(*) AS n FROM cases c WHERE " + filter).first()?.decode(column: "n", as: Int.self) ?? 0
        let rows = try await db.raw("SELECT * FROM cases c WHERE " + filter + " ORDER BY c.id DESC LIMIT \(literal: limit)").all().map(Self.decodeCase)
        return (total, rows)
    }
}

extension CaseService {
    public static let maxOverviewLimit = 50

    /// The number of matching cases and the `limit` most recent, with their outstanding counts.
    public func overview(_ principal: Principal, status: CaseStatus?, outstandingOnly: Bool, limit: Int) async throws -> (total: Int, cases: [CaseSummary]) {
        try principal.require(.readTenant)
        guard (1...Self.maxOverviewLimit).contains(limit) else {
            throw ParleyError.badRequest("limit must be from 1 to \(Self.maxOverviewLimit)", code: "invalid_limit")
        }
        let tenantID = principal.tenantID
        let repo = self.repo
        return try await store.read { db in
            let (total, rows) = try await repo.overview(tenantID: tenantID, status: status, outstandingOnly: outstandingOnly, limit: limit, on: db)
            let counts = try await repo.outstandingCounts(tenantID: tenantID, caseIDs: rows.map(\.id), on: db)
            return (total, rows.map { CaseSummary(legalCase: $0, outstandingDocuments: counts[$0.id] ?? 0, matchScore: nil) })
        }
    }

    /// When a message the agent sent goes out: now, or at the end of the firm's quiet hours.
    public func delivery(_ principal: Principal, messageID: String) async throws -> (message: Message, zone: TimeZone) {
        let tenantID = principal.tenantID
        let (message, _) = try await messages.message(principal, id: messageID)
        let zone = try await store.read { db in try await Self.zone(tenantID: tenantID, on: db) }
        return (message, zone)
    }
}

extension LegalPack {
    static let listCases = Tool(
        name: "list_cases",
        description: """
            Count and list the firm's cases: status OPEN (default), CLOSED or ANY; missing_documents true keeps only cases with \
            documents still outstanding. Returns total (all matching cases) and the most recent `limit` of them.
            """,
        inputSchema: ["type": "object", "properties": [
            "status": ["type": "string", "enum": ["OPEN", "CLOSED", "ANY"]],
            "missing_documents": ["type": "boolean"],
            "limit": ["type": "integer", "minimum": 1, "maximum": .number(Double(CaseService.maxOverviewLimit))],
        ], "additionalProperties": false],
        permission: .readTenant
    ) { input, ctx in
        let status: CaseStatus? = input["status"]?.stringValue == "ANY" ? nil : CaseStatus(rawValue: input["status"]?.stringValue ?? "OPEN")
        let (total, cases) = try await service(ctx).overview(ctx.action.principal, status: status, outstandingOnly: input["missing_documents"]?.boolValue ?? false,
                                                             limit: input["limit"]?.intValue ?? 10)
        return ["total": .number(Double(total)), "cases": .array(cases.map(LegalViews.summary))]
    }

    static let closeCase = Tool(
        name: "close_case",
        description: "Close a case: no more reminders go out for it and its upload link stops working. case_number, when given, must be the case's.",
        inputSchema: ["type": "object", "properties": [
            "case_id": ["type": "string"], "case_number": ["type": "string", "maxLength": 40],
        ], "required": ["case_id"], "additionalProperties": false],
        hasSideEffects: true, permission: .act
    ) { input, ctx in
        let s = try service(ctx)
        let id = input["case_id"]?.stringValue ?? ""
        if let number = input["case_number"]?.stringValue {
            let current = try await s.get(ctx.action.principal, id: id)
            guard current.legalCase.caseNumber == number else {
                throw ToolError("case_id \(id) is case #\(current.legalCase.caseNumber), not #\(number); nothing was closed")
            }
        }
        return LegalViews.detail(try await s.close(ctx.action, id: id))
    }

    static let uploadLink = Tool(
        name: "get_upload_link",
        description: "The client's personal link to upload the case's requested documents, and when it expires.",
        inputSchema: ["type": "object", "properties": ["case_id": ["type": "string"]], "required": ["case_id"], "additionalProperties": false],
        permission: .act
    ) { input, ctx in
        let s = try service(ctx)
        let id = input["case_id"]?.stringValue ?? ""
        let c = try await s.get(ctx.action.principal, id: id).legalCase
        let link = try await s.uploadLink(ctx.action.principal, caseID: id)
        return ["case_id": .string(c.id), "case_number": .string(c.caseNumber), "client_name": .string(c.clientName),
                "url": .string(link.url), "expires_at": .string(Timestamps.format(link.expiresAt))]
    }

    /// The send tool's result: the communication, and whether it is queued now or held for quiet hours.
    static func sent(_ comm: ClientCommunication, created: Bool, _ ctx: ToolContext) async throws -> JSONValue {
        var out = LegalViews.communication(comm).objectValue ?? [:]
        out["already_sent_today"] = .bool(!created)
        guard let id = comm.messageID else { return .object(out) }
        let (message, zone) = try await service(ctx).delivery(ctx.action.principal, messageID: id)
        let held = message.status == .queued && message.sendAt > ctx.clock.now().addingTimeInterval(60)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "HH:mm"
        out["status"] = .string(held ? "held_for_quiet_hours" : message.status.rawValue)
        out["scheduled_for"] = .string(Timestamps.format(message.sendAt))
        out["scheduled_local_time"] = .string(formatter.string(from: message.sendAt))
        out["time_zone"] = .string(zone.identifier)
        return .object(out)
    }
}
