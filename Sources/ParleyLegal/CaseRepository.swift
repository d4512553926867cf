import Foundation
import ParleyCore
import ParleyStorage
import SQLKit

public enum LegalSchema {
    public static let migrations: [Migration] = [
        Migration("legal_0001_cases", [
            """
            CREATE TABLE cases (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                client_name TEXT NOT NULL,
                client_email TEXT NOT NULL,
                client_phone TEXT,
                case_number TEXT NOT NULL,
                status TEXT NOT NULL,
                last_progress_at %TIMESTAMP% NOT NULL,
                last_contact_at %TIMESTAMP%,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                UNIQUE (tenant_id, case_number)
            )
            """,
            "CREATE INDEX cases_tenant_status ON cases (tenant_id, status, id)",
            """
            CREATE TABLE requested_documents (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                case_id TEXT NOT NULL REFERENCES cases(id),
                document_name TEXT NOT NULL,
                description TEXT,
                status TEXT NOT NULL,
                is_completed %BOOL% NOT NULL,
                completed_at %TIMESTAMP%,
                notes TEXT,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX requested_documents_case ON requested_documents (tenant_id, case_id)",
            """
            CREATE TABLE client_communications (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                case_id TEXT NOT NULL REFERENCES cases(id),
                channel TEXT NOT NULL,
                recipient TEXT NOT NULL,
                subject TEXT,
                body TEXT NOT NULL,
                email_type TEXT NOT NULL,
                message_id TEXT,
                sent_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX client_communications_case ON client_communications (tenant_id, case_id, id)",
            """
            CREATE TABLE case_uploads (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                case_id TEXT NOT NULL REFERENCES cases(id),
                requested_doc_id TEXT NOT NULL REFERENCES requested_documents(id),
                file_name TEXT NOT NULL,
                content_type TEXT NOT NULL,
                size_bytes %BIGINT% NOT NULL,
                sha256 TEXT NOT NULL,
                storage_path TEXT NOT NULL,
                uploaded_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX case_uploads_case ON case_uploads (tenant_id, case_id, id)",
            // The fuzzy-search candidate index: a case per name key (see NameMatcher.indexKeys).
            """
            CREATE TABLE case_name_keys (
                tenant_id TEXT NOT NULL,
                key TEXT NOT NULL,
                case_id TEXT NOT NULL REFERENCES cases(id),
                PRIMARY KEY (tenant_id, key, case_id)
            )
            """,
            "CREATE INDEX case_name_keys_case ON case_name_keys (case_id)",
        ]),
        // Soft delete (docs/soft-delete.md): a deleted case keeps its number until it is purged.
        Migration("legal_0002_soft_delete", [
            "ALTER TABLE cases ADD COLUMN deleted_at %TIMESTAMP%",
            "CREATE INDEX cases_deleted ON cases (deleted_at) WHERE deleted_at IS NOT NULL",
        ]),
    ]

    /// A purged case goes with its uploads' rows, communications, requested documents and name keys.
    /// (The uploaded files stay on disk under the upload directory; see docs/soft-delete.md.)
    public static let purgeTargets: [PurgeTarget] = [
        .softDeleted("cases", dependents: [.init("case_uploads", "case_id"), .init("client_communications", "case_id"),
                                           .init("requested_documents", "case_id"), .init("case_name_keys", "case_id")]),
    ]
}

public enum CaseStatus: String, Sendable, Codable, CaseIterable { case open = "OPEN", closed = "CLOSED" }

public enum DocumentStatus: String, Sendable, Codable, CaseIterable {
    case requested, received, accepted, rejected
    /// Still expected from the client.
    public var isOutstanding: Bool { self == .requested || self == .rejected }
}

public enum EmailType: String, Sendable, Codable, CaseIterable {
    case initialReminder = "initial_reminder", followUpReminder = "follow_up_reminder", urgentReminder = "urgent_reminder"
    public var templateName: String { "legal." + rawValue }
}

public struct LegalCase: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var clientName: String
    public var clientEmail: String
    public var clientPhone: String?
    public var caseNumber: String
    public var status: CaseStatus
    public var lastProgressAt: Date
    public var lastContactAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    /// Soft-deleted (docs/soft-delete.md): hidden everywhere but `include_deleted` and restore.
    public var deletedAt: Date? = nil
}

public struct RequestedDocument: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var caseID: String
    public var name: String
    public var description: String?
    public var status: DocumentStatus
    public var isCompleted: Bool
    public var completedAt: Date?
    public var notes: String?
    public var createdAt: Date
    public var updatedAt: Date
}

public struct ClientCommunication: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var caseID: String
    public var channel: String
    public var recipient: String
    public var subject: String?
    public var body: String
    public var emailType: String
    public var messageID: String?
    public var sentAt: Date
    /// The comms engine's message status (queued, sending, sent, failed, cancelled).
    public var deliveryStatus: String?
}

public struct CaseUpload: Sendable, Equatable {
    public var id: String
    public var tenantID: String
    public var caseID: String
    public var requestedDocID: String
    public var fileName: String
    public var contentType: String
    public var sizeBytes: Int
    public var sha256: String
    public var storagePath: String
    public var uploadedAt: Date
}

/// A case with everything the case page and the agent show.
public struct CaseDetail: Sendable, Equatable {
    public var legalCase: LegalCase
    public var documents: [RequestedDocument]
    public var communications: [ClientCommunication]
    public var uploads: [CaseUpload]

    public var outstanding: [RequestedDocument] { documents.filter { $0.status.isOutstanding } }
}

public struct CaseSummary: Sendable, Equatable {
    public var legalCase: LegalCase
    public var outstandingDocuments: Int
    public var matchScore: Double?
}

/// SQL for the pack's tables. Every statement is scoped by tenant.
struct CaseRepository: Sendable {
    func insert(_ c: LegalCase, documents: [RequestedDocument], keys: [String], on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO cases (id, tenant_id, client_name, client_email, client_phone, case_number, status, last_progress_at, last_contact_at, created_at, updated_at)
            VALUES (\(bind: c.id), \(bind: c.tenantID), \(bind: c.clientName), \(bind: c.clientEmail), \(bind: c.clientPhone), \(bind: c.caseNumber),
                    \(bind: c.status.rawValue), \(bind: c.lastProgressAt), \(bind: c.lastContactAt), \(bind: c.createdAt), \(bind: c.updatedAt))
            """).run()
        for d in documents { try await insert(d, on: db) }
        try await replaceKeys(tenantID: c.tenantID, caseID: c.id, keys: keys, on: db)
    }

    func insert(_ d: RequestedDocument, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO requested_documents (id, tenant_id, case_id, document_name, description, status, is_completed, completed_at, notes, created_at, updated_at)
            VALUES (\(bind: d.id), \(bind: d.tenantID), \(bind: d.caseID), \(bind: d.name), \(bind: d.description), \(bind: d.status.rawValue),
                    \(bind: d.isCompleted), \(bind: d.completedAt), \(bind: d.notes), \(bind: d.createdAt), \(bind: d.updatedAt))
            """).run()
    }

    func replaceKeys(tenantID: String, caseID: String, keys: [String], on db: any SQLDatabase) async throws {
        try await db.raw("DELETE FROM case_name_keys WHERE tenant_id = \(bind: tenantID) AND case_id = \(bind: caseID)").run()
        guard !keys.isEmpty else { return }
        var sql: SQLQueryString = "INSERT INTO case_name_keys (tenant_id, key, case_id) VALUES "
        for (i, key) in Set(keys).sorted().enumerated() {
            if i > 0 { sql += ", " }
            sql += "(\(bind: tenantID), \(bind: key), \(bind: caseID))"
        }
        try await db.raw(sql).run()
    }

    func countCases(tenantID: String, on db: any SQLDatabase) async throws -> Int {
        try await db.raw("SELECT COUNT(*) AS n FROM cases WHERE tenant_id = \(bind: tenantID)").first()?.decode(column: "n", as: Int.self) ?? 0
    }

    func caseNumberExists(tenantID: String, _ number: String, on db: any SQLDatabase) async throws -> Bool {
        try await db.raw("SELECT id FROM cases WHERE tenant_id = \(bind: tenantID) AND case_number = \(bind: number)").first() != nil
    }

    /// A live case (a deleted one only with `includeDeleted`).
    func find(tenantID: String, id: String, includeDeleted: Bool = false, on db: any SQLDatabase) async throws -> LegalCase? {
        let live: SQLQueryString = includeDeleted ? "" : " AND deleted_at IS NULL"
        return try await db.raw("SELECT * FROM cases WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)\(live)").first().map(Self.decodeCase)
    }

    func find(tenantID: String, caseNumber: String, on db: any SQLDatabase) async throws -> LegalCase? {
        try await db.raw("SELECT * FROM cases WHERE tenant_id = \(bind: tenantID) AND case_number = \(bind: caseNumber) AND deleted_at IS NULL").first().map(Self.decodeCase)
    }

    func cases(tenantID: String, ids: [String], on db: any SQLDatabase) async throws -> [LegalCase] {
        guard !ids.isEmpty else { return [] }
        return try await db.raw("SELECT * FROM cases WHERE tenant_id = \(bind: tenantID) AND id IN (\(binds: ids)) AND deleted_at IS NULL").all().map(Self.decodeCase)
    }

    func setDeleted(tenantID: String, id: String, at: Date?, now: Date, on db: any SQLDatabase) async throws {
        try await db.raw("UPDATE cases SET deleted_at = \(bind: at), updated_at = \(bind: now) WHERE tenant_id = \(bind: tenantID) AND id = \(bind: id)").run()
    }

    func list(tenantID: String, status: CaseStatus?, before: String?, limit: Int, includeDeleted: Bool = false, on db: any SQLDatabase) async throws -> [LegalCase] {
        var sql: SQLQueryString = "SELECT * FROM cases WHERE tenant_id = \(bind: tenantID)"
        if !includeDeleted { sql += " AND deleted_at IS NULL" }
        if let status { sql += " AND status = \(bind: status.rawValue)" }
        if let before { sql += " AND id < \(bind: before)" }
        sql += " ORDER BY id DESC LIMIT \(literal: limit)"
        return try await db.raw(sql).all().map(Self.decodeCase)
    }

    /// Open cases with something outstanding, idle since `idleSince` or never contacted.
    func reminderCandidates(tenantID: String, idleSince: Date, limit: Int, on db: any SQLDatabase) async throws -> [LegalCase] {
        try await db.raw("""
            SELECT * FROM cases c WHERE c.tenant_id = \(bind: tenantID) AND c.status = 'OPEN' AND c.deleted_at IS NULL
              AND (c.last_contact_at IS NULL OR c.last_progress_at <= \(bind: idleSince))
              AND EXISTS (SELECT 1 FROM requested_documents d WHERE d.tenant_id = c.tenant_id AND d.case_id = c.id
                          AND d.status IN ('requested', 'rejected'))
            ORDER BY c.id LIMIT \(literal: limit)
            """).all().map(Self.decodeCase)
    }

    /// Case ids sharing the most keys with a query, best first.
    func candidates(tenantID: String, keys: [String], limit: Int, on db: any SQLDatabase) async throws -> [String] {
        guard !keys.isEmpty else { return [] }
        return try await db.raw("""
            SELECT case_id, COUNT(*) AS hits FROM case_name_keys
            WHERE tenant_id = \(bind: tenantID) AND key IN (\(binds: keys))
            GROUP BY case_id ORDER BY hits DESC, case_id DESC LIMIT \(literal: limit)
            """).all().map { try $0.decode(column: "case_id", as: String.self) }
    }

    func updateContact(_ c: LegalCase, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE cases SET client_name = \(bind: c.clientName), client_email = \(bind: c.clientEmail), client_phone = \(bind: c.clientPhone),
                   status = \(bind: c.status.rawValue), updated_at = \(bind: c.updatedAt)
            WHERE tenant_id = \(bind: c.tenantID) AND id = \(bind: c.id)
            """).run()
    }

    func touch(tenantID: String, caseID: String, progress: Date?, contact: Date?, at now: Date, on db: any SQLDatabase) async throws {
        var sql: SQLQueryString = "UPDATE cases SET updated_at = \(bind: now)"
        if let progress { sql += ", last_progress_at = \(bind: progress)" }
        if let contact { sql += ", last_contact_at = \(bind: contact)" }
        sql += " WHERE tenant_id = \(bind: tenantID) AND id = \(bind: caseID)"
        try await db.raw(sql).run()
    }

    func documents(tenantID: String, caseIDs: [String], on db: any SQLDatabase) async throws -> [RequestedDocument] {
        guard !caseIDs.isEmpty else { return [] }
        return try await db.raw("""
            SELECT * FROM requested_documents WHERE tenant_id = \(bind: tenantID) AND case_id IN (\(binds: caseIDs)) ORDER BY id
            """).all().map(Self.decodeDocument)
    }

    func outstandingCounts(tenantID: String, caseIDs: [String], on db: any SQLDatabase) async throws -> [String: Int] {
        guard !caseIDs.isEmpty else { return [:] }
        let rows = try await db.raw("""
            SELECT case_id, COUNT(*) AS n FROM requested_documents
            WHERE tenant_id = \(bind: tenantID) AND case_id IN (\(binds: caseIDs)) AND status IN ('requested', 'rejected')
            GROUP BY case_id
            """).all()
        var out: [String: Int] = [:]
        for row in rows { out[try row.decode(column: "case_id", as: String.self)] = try row.decode(column: "n", as: Int.self) }
        return out
    }

    /// A requested document of a live case.
    func document(tenantID: String, id: String, on db: any SQLDatabase) async throws -> RequestedDocument? {
        try await db.raw("""
            SELECT d.* FROM requested_documents d JOIN cases c ON c.id = d.case_id AND c.tenant_id = d.tenant_id
            WHERE d.tenant_id = \(bind: tenantID) AND d.id = \(bind: id) AND c.deleted_at IS NULL
            """).first().map(Self.decodeDocument)
    }

    func update(_ d: RequestedDocument, on db: any SQLDatabase) async throws {
        try await db.raw("""
            UPDATE requested_documents SET status = \(bind: d.status.rawValue), is_completed = \(bind: d.isCompleted), completed_at = \(bind: d.completedAt),
                   notes = \(bind: d.notes), updated_at = \(bind: d.updatedAt)
            WHERE tenant_id = \(bind: d.tenantID) AND id = \(bind: d.id)
            """).run()
    }

    func insert(_ c: ClientCommunication, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO client_communications (id, tenant_id, case_id, channel, recipient, subject, body, email_type, message_id, sent_at)
            VALUES (\(bind: c.id), \(bind: c.tenantID), \(bind: c.caseID), \(bind: c.channel), \(bind: c.recipient), \(bind: c.subject),
                    \(bind: c.body), \(bind: c.emailType), \(bind: c.messageID), \(bind: c.sentAt))
            """).run()
    }

    func communications(tenantID: String, caseID: String, on db: any SQLDatabase) async throws -> [ClientCommunication] {
        try await db.raw("""
            SELECT c.*, m.status AS delivery_status FROM client_communications c
            LEFT JOIN messages m ON m.tenant_id = c.tenant_id AND m.id = c.message_id
            WHERE c.tenant_id = \(bind: tenantID) AND c.case_id = \(bind: caseID) ORDER BY c.id
            """).all().map(Self.decodeCommunication)
    }

    func communication(tenantID: String, messageID: String, on db: any SQLDatabase) async throws -> ClientCommunication? {
        try await db.raw("""
            SELECT c.*, m.status AS delivery_status FROM client_communications c
            LEFT JOIN messages m ON m.tenant_id = c.tenant_id AND m.id = c.message_id
            WHERE c.tenant_id = \(bind: tenantID) AND c.message_id = \(bind: messageID)
            """).first().map(Self.decodeCommunication)
    }

    func insert(_ u: CaseUpload, on db: any SQLDatabase) async throws {
        try await db.raw("""
            INSERT INTO case_uploads (id, tenant_id, case_id, requested_doc_id, file_name, content_type, size_bytes, sha256, storage_path, uploaded_at)
            VALUES (\(bind: u.id), \(bind: u.tenantID), \(bind: u.caseID), \(bind: u.requestedDocID), \(bind: u.fileName), \(bind: u.contentType),
                    \(bind: u.sizeBytes), \(bind: u.sha256), \(bind: u.storagePath), \(bind: u.uploadedAt))
            """).run()
    }

    func uploads(tenantID: String, caseID: String, on db: any SQLDatabase) async throws -> [CaseUpload] {
        try await db.raw("SELECT * FROM case_uploads WHERE tenant_id = \(bind: tenantID) AND case_id = \(bind: caseID) ORDER BY id").all().map { r in
            CaseUpload(id: try r.decode(column: "id", as: String.self), tenantID: try r.decode(column: "tenant_id", as: String.self),
                       caseID: try r.decode(column: "case_id", as: String.self), requestedDocID: try r.decode(column: "requested_doc_id", as: String.self),
                       fileName: try r.decode(column: "file_name", as: String.self), contentType: try r.decode(column: "content_type", as: String.self),
                       sizeBytes: try r.decode(column: "size_bytes", as: Int.self), sha256: try r.decode(column: "sha256", as: String.self),
                       storagePath: try r.decode(column: "storage_path", as: String.self), uploadedAt: try r.decode(column: "uploaded_at", as: Date.self))
        }
    }

    func detail(tenantID: String, id: String, on db: any SQLDatabase) async throws -> CaseDetail? {
        guard let c = try await find(tenantID: tenantID, id: id, on: db) else { return nil }
        return CaseDetail(legalCase: c, documents: try await documents(tenantID: tenantID, caseIDs: [id], on: db),
                          communications: try await communications(tenantID: tenantID, caseID: id, on: db),
                          uploads: try await uploads(tenantID: tenantID, caseID: id, on: db))
    }

    static func decodeCase(_ r: any SQLRow) throws -> LegalCase {
        LegalCase(id: try r.decode(column: "id", as: String.self), tenantID: try r.decode(column: "tenant_id", as: String.self),
                  clientName: try r.decode(column: "client_name", as: String.self), clientEmail: try r.decode(column: "client_email", as: String.self),
                  clientPhone: try r.decode(column: "client_phone", as: String?.self), caseNumber: try r.decode(column: "case_number", as: String.self),
                  status: CaseStatus(rawValue: try r.decode(column: "status", as: String.self)) ?? .open,
                  lastProgressAt: try r.decode(column: "last_progress_at", as: Date.self), lastContactAt: try r.decode(column: "last_contact_at", as: Date?.self),
                  createdAt: try r.decode(column: "created_at", as: Date.self), updatedAt: try r.decode(column: "updated_at", as: Date.self),
                  deletedAt: try r.decode(column: "deleted_at", as: Date?.self))
    }

    static func decodeDocument(_ r: any SQLRow) throws -> RequestedDocument {
        RequestedDocument(id: try r.decode(column: "id", as: String.self), tenantID: try r.decode(column: "tenant_id", as: String.self),
                          caseID: try r.decode(column: "case_id", as: String.self), name: try r.decode(column: "document_name", as: String.self),
                          description: try r.decode(column: "description", as: String?.self),
                          status: DocumentStatus(rawValue: try r.decode(column: "status", as: String.self)) ?? .requested,
                          isCompleted: try r.decode(column: "is_completed", as: Bool.self), completedAt: try r.decode(column: "completed_at", as: Date?.self),
                          notes: try r.decode(column: "notes", as: String?.self), createdAt: try r.decode(column: "created_at", as: Date.self),
                          updatedAt: try r.decode(column: "updated_at", as: Date.self))
    }

    static func decodeCommunication(_ r: any SQLRow) throws -> ClientCommunication {
        ClientCommunication(id: try r.decode(column: "id", as: String.self), tenantID: try r.decode(column: "tenant_id", as: String.self),
                            caseID: try r.decode(column: "case_id", as: String.self), channel: try r.decode(column: "channel", as: String.self),
                            recipient: try r.decode(column: "recipient", as: String.self), subject: try r.decode(column: "subject", as: String?.self),
                            body: try r.decode(column: "body", as: String.self), emailType: try r.decode(column: "email_type", as: String.self),
                            messageID: try r.decode(column: "message_id", as: String?.self), sentAt: try r.decode(column: "sent_at", as: Date.self),
                            deliveryStatus: try r.decode(column: "delivery_status", as: String?.self))
    }
}
