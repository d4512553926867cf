import Foundation
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyHTTP
import ParleyPlatform
import ParleyStorage
import SQLKit

/// What the legal pack needs from the process: signing keys, where links point, settings, and a
/// way to wake the communications worker after a commit.
public struct LegalEnvironment: Sendable {
    public var keyring: Keyring
    /// `PARLEY_PUBLIC_URL` or `http://HOST:PORT`, without a trailing slash.
    public var publicBaseURL: String
    public var settings: LegalSettings
    public var maxAttempts: Int
    public var quietHours: QuietHours
    public var wake: @Sendable () -> Void
    /// How long a deleted case stays restorable (`PARLEY_RETENTION_DAYS`).
    public var retention: Retention

    public init(keyring: Keyring, publicBaseURL: String, settings: LegalSettings = LegalSettings(), maxAttempts: Int = 4,
                quietHours: QuietHours = .default, wake: @escaping @Sendable () -> Void = {}, retention: Retention = .standard) {
        self.retention = retention
        self.keyring = keyring
        self.publicBaseURL = publicBaseURL.hasSuffix("/") ? String(publicBaseURL.dropLast()) : publicBaseURL
        self.settings = settings
        self.maxAttempts = maxAttempts
        self.quietHours = quietHours
        self.wake = wake
    }
}

/// A new case as asked for: validated and normalised by `CaseInput.parse`.
public struct NewCaseInput: Sendable, Equatable {
    public var clientName: String
    public var clientEmail: String
    public var clientPhone: String?
    public var caseNumber: String?
    public var documents: [DocumentRequest]
}

public struct DocumentRequest: Sendable, Equatable {
    public var name: String
    public var description: String?
}

public struct CaseSearch: Sendable, Equatable {
    public var clientName: String
    public var fuzzy: Bool = true
    public var threshold: Double = 0.3
    public var limit: Int = 50
    public var status: CaseStatus? = .open
    public init(clientName: String, fuzzy: Bool = true, threshold: Double = 0.3, limit: Int = 50, status: CaseStatus? = .open) {
        self.clientName = clientName
        self.fuzzy = fuzzy
        self.threshold = threshold
        self.limit = limit
        self.status = status
    }
}

public struct PendingReminder: Sendable, Equatable {
    public var legalCase: LegalCase
    public var outstanding: [RequestedDocument]
    public var emailType: EmailType
    public var daysWithoutProgress: Int
}

public struct ComposedEmail: Sendable, Equatable {
    public var caseID: String
    public var emailType: EmailType
    public var recipient: String
    public var subject: String
    public var body: String
    public var html: String?
    public var uploadURL: String
    public var documents: [String]
}

/// Parsing and normalising what clients and models send.
public enum CaseInput {
    public static let maxDocuments = 50

    /// `requested_documents` / `documents_requested`: an array of names or of
    /// `{document_name, description}`, or a comma-separated string. Trimmed, de-duplicated
    /// (case-insensitively), at least one.
    public static func documents(_ value: JSONValue?) throws -> [DocumentRequest] {
        var raw: [DocumentRequest] = []
        switch value {
        case nil, .null?:
            throw ParleyError.badRequest("requested_documents is required: list at least one document to request", code: "documents_required")
        case .string(let text)?:
            raw = splitList(text).map { DocumentRequest(name: $0, description: nil) }
        case .array(let items)?:
            for item in items {
                switch item {
                case .string(let name): raw.append(DocumentRequest(name: name, description: nil))
                case .object(let o):
                    guard let name = (o["document_name"] ?? o["name"])?.stringValue else {
                        throw ParleyError.badRequest("each requested document needs a document_name", code: "invalid_documents")
                    }
                    raw.append(DocumentRequest(name: name, description: o["description"]?.stringValue))
                default:
                    throw ParleyError.badRequest("requested_documents must be names or {document_name, description} objects", code: "invalid_documents")
                }
            }
        default:
            throw ParleyError.badRequest("requested_documents must be an array or a comma-separated string", code: "invalid_documents")
        }
        var seen: Set<String> = []
        var out: [DocumentRequest] = []
        for d in raw {
            let name = collapse(d.name)
            guard !name.isEmpty else { continue }
            guard name.count <= 200 else { throw ParleyError.badRequest("a document name is at most 200 characters", code: "invalid_documents") }
            guard seen.insert(name.lowercased()).inserted else { continue }
            let description = d.description.map(collapse).flatMap { $0.isEmpty ? nil : String($0.prefix(1000)) }
            out.append(DocumentRequest(name: name, description: description ?? "Required document: \(name)"))
        }
        guard !out.isEmpty else {
            throw ParleyError.badRequest("requested_documents is empty: list at least one document to request", code: "documents_required")
        }
        guard out.count <= maxDocuments else {
            throw ParleyError.badRequest("at most \(maxDocuments) documents per case", code: "invalid_documents")
        }
        return out
    }

    /// "W2, 1099 and 2023 tax return" -> ["W2", "1099", "2023 tax return"].
    public static func splitList(_ text: String) -> [String] {
        var parts = [text]
        for separator in [",", ";", "\n", " and ", " & ", " plus "] {
            parts = parts.flatMap { $0.components(separatedBy: separator) }
        }
        return parts.map(collapse).map { $0.hasPrefix("and ") ? String($0.dropFirst(4)) : $0 }.filter { !$0.isEmpty }
    }

    static func collapse(_ s: String) -> String {
        s.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
            .trimmingCharacters(in: CharacterSet(charactersIn: " .\"'`"))
    }

    public static func name(_ value: String?) throws -> String {
        let name = collapse(value ?? "")
        guard !name.isEmpty else { throw ParleyError.badRequest("client_name must not be blank", code: "invalid_client_name") }
        guard name.count <= 200, !name.contains(where: { $0.isNewline }) else {
            throw ParleyError.badRequest("client_name is at most 200 characters on one line", code: "invalid_client_name")
        }
        return name
    }

    public static func email(_ value: String?) throws -> String {
        guard let value, !value.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ParleyError.badRequest("client_email is required", code: "invalid_email")
        }
        do { return try Recipients.normalizeEmail(value) } catch {
            throw ParleyError.badRequest("client_email is not a valid email address", code: "invalid_email")
        }
    }

    public static func phone(_ value: String?) throws -> String? {
        guard let value, !value.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        // The messages' rule: stored as E.164, so a reminder by SMS reaches it; no country is guessed.
        do { return try Recipients.normalizePhone(value) } catch {
            throw ParleyError.badRequest("client_phone is not usable (\(error)); write it with its country code, such as +1 555-123-4567",
                                         code: "invalid_phone")
        }
    }

    /// A whole create request (REST body or tool input).
    public static func newCase(_ o: JSONValue) throws -> NewCaseInput {
        let docs = o["requested_documents"].flatMap { $0.isNull ? nil : $0 } ?? o["documents_requested"]
        let number = o["case_number"]?.stringValue.map(collapse).flatMap { $0.isEmpty ? nil : $0 }
        if let number, number.count > 40 || number.contains(where: { $0.isNewline }) {
            throw ParleyError.badRequest("case_number is at most 40 characters", code: "invalid_case_number")
        }
        return NewCaseInput(clientName: try name(o["client_name"]?.stringValue), clientEmail: try email(o["client_email"]?.stringValue),
                            clientPhone: try phone(o["client_phone"]?.stringValue), caseNumber: number, documents: try documents(docs))
    }
}

/// The legal pack's operations; the REST API, the tools and the trigger all call these.
public struct CaseService: Sendable {
    public let store: any Store
    public let clock: any Clock
    public let environment: LegalEnvironment
    let repo = CaseRepository()
    var audit: AuditLog { AuditLog(clock: clock) }
    static let matcher = NameMatcher(nicknames: .standard)
    /// Candidates fetched from the key index before reranking.
    static let candidatePool = 200

    public init(store: any Store, clock: any Clock, environment: LegalEnvironment) {
        self.store = store
        self.clock = clock
        self.environment = environment
    }

    public var templates: TemplateService {
        TemplateService(store: store, clock: clock, defaults: DefaultTemplates.all + LegalPack.templates)
    }

    var messages: MessageService {
        MessageService(queue: JobQueue(store: store, clock: clock), maxAttempts: environment.maxAttempts, quietHours: environment.quietHours,
                       templates: templates, wake: environment.wake)
    }

    static func caseNotFound(_ id: String) -> ParleyError { .notFound("case \(id.prefix(64)) not found", code: "case_not_found") }

    static func validID(_ id: String, what: String) throws {
        guard UUIDv7.isValid(id) else { throw ParleyError.notFound("\(what) \(id.prefix(64)) not found", code: "\(what)_not_found") }
    }

    // MARK: cases

    public func create(_ ctx: ActionContext, _ input: NewCaseInput) async throws -> CaseDetail {
        try ctx.principal.require(.act)
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let keys = Self.matcher.indexKeys(for: input.clientName)
        let repo = self.repo
        let year = Calendar(identifier: .gregorian).component(.year, from: now)
        for attempt in 0..<5 {
            do {
                let id = try await store.transaction { db -> String in
                    let number: String
                    if let wanted = input.caseNumber {
                        if try await repo.caseNumberExists(tenantID: tenantID, wanted, on: db) {
                            throw ParleyError.conflict("case number \(wanted) is already used", code: "case_number_taken")
                        }
                        number = wanted
                    } else {
                        number = String(format: "%d-%05d", year, try await repo.countCases(tenantID: tenantID, on: db) + 1 + attempt)
                    }
                    let c = LegalCase(id: UUIDv7.make(at: now), tenantID: tenantID, clientName: input.clientName, clientEmail: input.clientEmail,
                                      clientPhone: input.clientPhone, caseNumber: number, status: .open, lastProgressAt: now, lastContactAt: nil,
                                      createdAt: now, updatedAt: now)
                    let docs = input.documents.map { d in
                        RequestedDocument(id: UUIDv7.make(at: now), tenantID: tenantID, caseID: c.id, name: d.name, description: d.description,
                                          status: .requested, isCompleted: false, completedAt: nil, notes: nil, createdAt: now, updatedAt: now)
                    }
                    try await repo.insert(c, documents: docs, keys: keys, on: db)
                    try await audit.record(ctx, action: "case.create", targetType: "case", targetID: c.id, on: db)
                    return c.id
                }
                return try await detail(tenantID: tenantID, id: id)
            } catch StoreError.uniqueViolation where input.caseNumber == nil {
                continue  // another case took the number first: take the next
            }
        }
        throw ParleyError.conflict("could not allocate a case number; try again", code: "case_number_taken")
    }

    public func get(_ principal: Principal, id: String, includeDeleted: Bool = false) async throws -> CaseDetail {
        try principal.require(.readTenant)
        return try await detail(tenantID: principal.tenantID, id: id, includeDeleted: includeDeleted)
    }

    func detail(tenantID: String, id: String, includeDeleted: Bool = false) async throws -> CaseDetail {
        try Self.validID(id, what: "case")
        let repo = self.repo
        let retention = environment.retention
        return try await store.read { db in
            if let d = try await repo.detail(tenantID: tenantID, id: id, on: db) { return d }
            // A deleted case: 404 saying until when it can be restored, or the case itself when asked for.
            guard let deleted = try await repo.find(tenantID: tenantID, id: id, includeDeleted: true, on: db), let at = deleted.deletedAt else {
                throw Self.caseNotFound(id)
            }
            guard includeDeleted else {
                throw retention.deleted("case \(deleted.caseNumber)", code: "case_deleted", restore: "/v1/cases/\(id)/restore", deletedAt: at)
            }
            return CaseDetail(legalCase: deleted, documents: try await repo.documents(tenantID: tenantID, caseIDs: [id], on: db),
                              communications: try await repo.communications(tenantID: tenantID, caseID: id, on: db),
                              uploads: try await repo.uploads(tenantID: tenantID, caseID: id, on: db))
        }
    }

    /// Soft-deletes a case: hidden from lists, search, reminders, the agent's tools and its
    /// upload link; restorable within the retention period.
    public func delete(_ ctx: ActionContext, id: String) async throws -> CaseDetail {
        try ctx.principal.require(.operate, toDo: "delete cases")
        return try await setDeleted(ctx, id: id, deleted: true)
    }

    public func restore(_ ctx: ActionContext, id: String) async throws -> CaseDetail {
        try ctx.principal.require(.operate, toDo: "restore cases")
        return try await setDeleted(ctx, id: id, deleted: false)
    }

    private func setDeleted(_ ctx: ActionContext, id: String, deleted: Bool) async throws -> CaseDetail {
        try Self.validID(id, what: "case")
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let repo = self.repo
        let audit = self.audit
        let retention = environment.retention
        try await store.transaction { db in
            guard let c = try await repo.find(tenantID: tenantID, id: id, includeDeleted: true, on: db) else { throw Self.caseNotFound(id) }
            guard (c.deletedAt != nil) != deleted else { return }
            if let at = c.deletedAt { try retention.requireRestorable("case \(c.caseNumber)", deletedAt: at, now: now) }
            try await repo.setDeleted(tenantID: tenantID, id: id, at: deleted ? now : nil, now: now, on: db)
            try await audit.record(ctx, action: deleted ? "case.delete" : "case.restore", targetType: "case", targetID: id, on: db)
        }
        return try await detail(tenantID: tenantID, id: id, includeDeleted: true)
    }

    /// A case by its number ("2027-00012"), for the agent.
    public func find(_ principal: Principal, caseNumber: String) async throws -> CaseDetail {
        try principal.require(.readTenant)
        let repo = self.repo
        let tenantID = principal.tenantID
        guard let c = try await store.read({ db in try await repo.find(tenantID: tenantID, caseNumber: caseNumber, on: db) }) else {
            throw ParleyError.notFound("no case numbered \(caseNumber.prefix(40))", code: "case_not_found")
        }
        return try await detail(tenantID: tenantID, id: c.id)
    }

    public func list(_ principal: Principal, status: CaseStatus?, before: String?, limit: Int, includeDeleted: Bool = false) async throws -> (cases: [CaseSummary], next: String?) {
        try principal.require(.readTenant)
        guard (1...200).contains(limit) else { throw ParleyError.badRequest("limit must be from 1 to 200", code: "invalid_limit") }
        if let before, !UUIDv7.isValid(before) {
            throw ParleyError.badRequest("before must be a case id (the next_cursor of the previous page)", code: "invalid_query")
        }
        let tenantID = principal.tenantID
        let repo = self.repo
        return try await store.read { db in
            let query = Paging.Query(limit: limit, cursor: before)
            let page = Paging.page(try await repo.list(tenantID: tenantID, status: status, before: query.cursor, limit: query.fetchLimit,
                                                       includeDeleted: includeDeleted, on: db),
                                   limit: limit, cursor: \.id)
            let counts = try await repo.outstandingCounts(tenantID: tenantID, caseIDs: page.rows.map(\.id), on: db)
            return (page.rows.map { CaseSummary(legalCase: $0, outstandingDocuments: counts[$0.id] ?? 0, matchScore: nil) }, page.next)
        }
    }

    public static let maxSearchLimit = 100

    /// Fuzzy client-name search: the key index proposes candidates (same SQL on both databases),
    /// the matcher scores them; threshold, status and limit apply to the scores.
    public func search(_ principal: Principal, _ q: CaseSearch) async throws -> (cases: [CaseSummary], totalFound: Int) {
        try principal.require(.readTenant)
        let name = q.clientName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else {
            throw ParleyError.badRequest("client_name must be 1 to 200 characters", code: "invalid_client_name")
        }
        guard q.threshold.isFinite, (0...1).contains(q.threshold) else {
            throw ParleyError.badRequest("fuzzy_threshold must be between 0 and 1", code: "invalid_threshold")
        }
        guard (1...Self.maxSearchLimit).contains(q.limit) else {
            throw ParleyError.badRequest("limit must be from 1 to \(Self.maxSearchLimit)", code: "invalid_limit")
        }
        let keys = Self.matcher.queryKeys(for: name)
        guard !keys.isEmpty else { return ([], 0) }
        let tenantID = principal.tenantID
        let repo = self.repo
        let (candidates, counts) = try await store.read { db in
            let ids = try await repo.candidates(tenantID: tenantID, keys: keys, limit: Self.candidatePool, on: db)
            let cases = try await repo.cases(tenantID: tenantID, ids: ids, on: db)
            return (cases, try await repo.outstandingCounts(tenantID: tenantID, caseIDs: cases.map(\.id), on: db))
        }
        let queryTokens = Set(NameNormalizer.tokens(name))
        var scored: [CaseSummary] = []
        for c in candidates where q.status == nil || c.status == q.status {
            let score: Double
            if q.fuzzy {
                score = Self.matcher.score(query: name, candidate: c.clientName)
                guard score >= q.threshold else { continue }
            } else {
                // Exact: every word of the query is a word of the name (any order, case and accents ignored).
                guard queryTokens.isSubset(of: Set(NameNormalizer.tokens(c.clientName))) else { continue }
                score = 1
            }
            scored.append(CaseSummary(legalCase: c, outstandingDocuments: counts[c.id] ?? 0, matchScore: (score * 1000).rounded() / 1000))
        }
        scored.sort { ($0.matchScore ?? 0, $0.legalCase.createdAt, $0.legalCase.id) > ($1.matchScore ?? 0, $1.legalCase.createdAt, $1.legalCase.id) }
        return (Array(scored.prefix(q.limit)), scored.count)
    }

    public struct ContactUpdate: Sendable {
        public var clientName: String?
        public var clientEmail: String?
        public var clientPhone: String??
        public init(clientName: String? = nil, clientEmail: String? = nil, clientPhone: String?? = nil) {
            self.clientName = clientName
            self.clientEmail = clientEmail
            self.clientPhone = clientPhone
        }
    }

    public func update(_ ctx: ActionContext, id: String, _ u: ContactUpdate) async throws -> CaseDetail {
        try ctx.principal.require(.act)
        try Self.validID(id, what: "case")
        let name = try u.clientName.map { try CaseInput.name($0) }
        let email = try u.clientEmail.map { try CaseInput.email($0) }
        let phone: String?? = try u.clientPhone.map { try CaseInput.phone($0) }
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let repo = self.repo
        try await store.transaction { db in
            guard var c = try await repo.find(tenantID: tenantID, id: id, on: db) else { throw Self.caseNotFound(id) }
            if let name, name != c.clientName {
                c.clientName = name
                try await repo.replaceKeys(tenantID: tenantID, caseID: id, keys: Self.matcher.indexKeys(for: name), on: db)
            }
            if let email { c.clientEmail = email }
            if let phone { c.clientPhone = phone }
            c.updatedAt = now
            try await repo.updateContact(c, on: db)
            try await audit.record(ctx, action: "case.update", targetType: "case", targetID: id, on: db)
        }
        return try await detail(tenantID: tenantID, id: id)
    }

    public func close(_ ctx: ActionContext, id: String) async throws -> CaseDetail {
        try ctx.principal.require(.act)
        try Self.validID(id, what: "case")
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let repo = self.repo
        try await store.transaction { db in
            guard var c = try await repo.find(tenantID: tenantID, id: id, on: db) else { throw Self.caseNotFound(id) }
            c.status = .closed
            c.updatedAt = now
            try await repo.updateContact(c, on: db)
            try await audit.record(ctx, action: "case.close", targetType: "case", targetID: id, on: db)
        }
        return try await detail(tenantID: tenantID, id: id)
    }

    // MARK: documents

    public struct DocumentUpdate: Sendable {
        public var status: DocumentStatus?
        public var isCompleted: Bool?
        public var notes: String?
        public init(status: DocumentStatus? = nil, isCompleted: Bool? = nil, notes: String? = nil) {
            self.status = status
            self.isCompleted = isCompleted
            self.notes = notes
        }
    }

    public func updateDocument(_ ctx: ActionContext, id: String, _ u: DocumentUpdate) async throws -> RequestedDocument {
        try ctx.principal.require(.act)
        try Self.validID(id, what: "document")
        guard u.status != nil || u.isCompleted != nil || u.notes != nil else {
            throw ParleyError.badRequest("send at least one of status, is_completed, notes", code: "empty_update")
        }
        if let notes = u.notes, notes.count > 2000 { throw ParleyError.badRequest("notes are at most 2000 characters", code: "invalid_notes") }
        if u.status == .accepted && u.isCompleted == false || (u.status != nil && u.status != .accepted && u.isCompleted == true) {
            throw ParleyError.badRequest("is_completed is true exactly when the status is accepted", code: "inconsistent_status")
        }
        let tenantID = ctx.principal.tenantID
        let now = clock.now()
        let repo = self.repo
        return try await store.transaction { db in
            guard var d = try await repo.document(tenantID: tenantID, id: id, on: db) else {
                throw ParleyError.notFound("document \(id) not found", code: "document_not_found")
            }
            let status = u.status ?? (u.isCompleted == true ? .accepted : u.isCompleted == false && d.status == .accepted ? .received : d.status)
            d.status = status
            d.isCompleted = status == .accepted
            d.completedAt = status == .accepted ? (d.completedAt ?? now) : nil
            if let notes = u.notes { d.notes = notes.isEmpty ? nil : notes }
            d.updatedAt = now
            try await repo.update(d, on: db)
            try await repo.touch(tenantID: tenantID, caseID: d.caseID, progress: status == .rejected ? nil : now, contact: nil, at: now, on: db)
            try await audit.record(ctx, action: "case.document.update", targetType: "requested_document", targetID: d.id,
                                   details: JSONValue.object(["status": .string(status.rawValue)]).serialized(), on: db)
            return d
        }
    }

    // MARK: reminders and email

    public func pendingReminders(_ principal: Principal) async throws -> [PendingReminder] {
        try principal.require(.readTenant)
        let tenantID = principal.tenantID
        return try await store.read { db in try await self.pendingReminders(tenantID: tenantID, on: db) }
    }

    /// Open cases with outstanding documents that are due a reminder now: never contacted
    /// (initial), or no progress for `followUpDays` and no reminder for as long (follow-up,
    /// urgent after `urgentDays`).
    func pendingReminders(tenantID: String, limit: Int = 500, on db: any SQLDatabase) async throws -> [PendingReminder] {
        let now = clock.now()
        let s = environment.settings
        let idleSince = now.addingTimeInterval(-Double(s.followUpDays) * 86_400)
        let cases = try await repo.reminderCandidates(tenantID: tenantID, idleSince: idleSince, limit: limit, on: db)
        let docs = Dictionary(grouping: try await repo.documents(tenantID: tenantID, caseIDs: cases.map(\.id), on: db), by: \.caseID)
        return cases.compactMap { c in
            let outstanding = (docs[c.id] ?? []).filter { $0.status.isOutstanding }
            guard !outstanding.isEmpty else { return nil }
            let idleDays = Int(now.timeIntervalSince(c.lastProgressAt) / 86_400)
            let type: EmailType
            if let contact = c.lastContactAt {
                guard contact <= idleSince else { return nil }
                type = idleDays >= s.urgentDays ? .urgentReminder : .followUpReminder
            } else {
                type = .initialReminder
            }
            return PendingReminder(legalCase: c, outstanding: outstanding, emailType: type, daysWithoutProgress: idleDays)
        }
    }

    public func uploadLink(_ principal: Principal, caseID: String) async throws -> (url: String, expiresAt: Date) {
        try principal.require(.act)
        let c = try await detail(tenantID: principal.tenantID, id: caseID).legalCase
        return link(for: c)
    }

    func link(for c: LegalCase) -> (url: String, expiresAt: Date) {
        // Whole seconds, so the link is the same all day for the same case (stable idempotent emails).
        let day = (clock.now().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400
        let expires = Date(timeIntervalSince1970: day + Double(environment.settings.uploadLinkDays) * 86_400)
        let token = UploadLinks.token(UploadLinkClaims(tenantID: c.tenantID, caseID: c.id, expiresAt: expires), keyring: environment.keyring)
        return (environment.publicBaseURL + "/upload/" + token, expires)
    }

    /// The tenant's template for `type`, filled with the case's outstanding documents and its link.
    public func compose(_ principal: Principal, caseID: String, type: EmailType) async throws -> ComposedEmail {
        try principal.require(.readTenant)
        let tenantID = principal.tenantID
        let detail = try await detail(tenantID: tenantID, id: caseID)
        let firm = try await store.read { db in try await Self.firmName(tenantID: tenantID, on: db) }
        let template = try await templates.template(tenantID: tenantID, name: type.templateName)
        return try compose(detail.legalCase, outstanding: detail.outstanding, type: type, template: template, firm: firm)
    }

    func compose(_ c: LegalCase, outstanding: [RequestedDocument], type: EmailType, template: MessageTemplate, firm: String) throws -> ComposedEmail {
        guard !outstanding.isEmpty else {
            throw ParleyError.conflict("case \(c.caseNumber) has no outstanding documents; nothing to remind about", code: "nothing_outstanding")
        }
        let link = link(for: c)
        let docs: [JSONValue] = outstanding.map { d in
            // The generated "Required document: W2" says nothing the name does not.
            .object(["name": .string(d.name), "description": d.description.flatMap { $0 == "Required document: \(d.name)" ? nil : .string($0) } ?? .null])
        }
        let variables: [String: JSONValue] = [
            "client_name": .string(c.clientName), "case_number": .string(c.caseNumber), "documents": .array(docs),
            "document_count": .number(Double(outstanding.count)), "upload_url": .string(link.url), "firm_name": .string(firm),
        ]
        let rendered: RenderedMessage
        do { rendered = try TemplateRenderer.render(template, variables: variables) } catch {
            throw ParleyError.badRequest("the \(template.name) template does not render: \(error.description)", code: "template_error")
        }
        return ComposedEmail(caseID: c.id, emailType: type, recipient: c.clientEmail, subject: rendered.subject ?? "Case \(c.caseNumber)",
                             body: rendered.text, html: rendered.html, uploadURL: link.url, documents: outstanding.map(\.name))
    }

    static func firmName(tenantID: String, on db: any SQLDatabase) async throws -> String {
        try await db.raw("SELECT name FROM tenants WHERE id = \(bind: tenantID)").first()?.decode(column: "name", as: String.self) ?? "Your law firm"
    }

    static func zone(tenantID: String, on db: any SQLDatabase) async throws -> TimeZone {
        let name = try await db.raw("SELECT time_zone FROM tenants WHERE id = \(bind: tenantID)").first()?.decode(column: "time_zone", as: String.self)
        return name.flatMap(TimeZone.init(identifier:)) ?? .gmt
    }

    public struct SendRequest: Sendable {
        public var caseID: String
        public var emailType: EmailType
        /// Omitted: composed from the tenant's template.
        public var subject: String?
        public var body: String?
        /// Only accepted when it is the case's address on record.
        public var recipient: String?
        /// When to send; nil is now. Quiet hours may still move it later.
        public var sendAt: Date?
        public init(caseID: String, emailType: EmailType, subject: String? = nil, body: String? = nil, recipient: String? = nil) {
            self.caseID = caseID
            self.emailType = emailType
            self.subject = subject
            self.body = body
            self.recipient = recipient
        }
    }

    /// Sends an email to the case's client, through the comms engine, logged on the case in the
    /// same transaction. One email per case, type and day (in the firm's zone): a repeat returns
    /// the first.
    public func send(_ ctx: ActionContext, _ r: SendRequest) async throws -> (communication: ClientCommunication, created: Bool) {
        try ctx.principal.require(.act)
        try Self.validID(r.caseID, what: "case")
        let template = try await templates.template(tenantID: ctx.principal.tenantID, name: r.emailType.templateName)
        let result = try await store.transaction { db in try await self.send(ctx, r, template: template, on: db) }
        if result.created { environment.wake() }
        return result
    }

    func send(_ ctx: ActionContext, _ r: SendRequest, template: MessageTemplate, on db: any SQLDatabase) async throws -> (communication: ClientCommunication, created: Bool) {
        let tenantID = ctx.principal.tenantID
        guard let c = try await repo.find(tenantID: tenantID, id: r.caseID, on: db) else { throw Self.caseNotFound(r.caseID) }
        if let asked = r.recipient?.trimmingCharacters(in: .whitespaces), !asked.isEmpty {
            let normalized = (try? Recipients.normalizeEmail(asked)) ?? asked.lowercased()
            guard normalized.lowercased() == c.clientEmail.lowercased() else {
                throw ParleyError(.unprocessable, code: "recipient_not_on_record",
                                  "emails for case \(c.caseNumber) go only to the client's address on record (\(Self.mask(c.clientEmail))), not to \(asked.prefix(100))")
            }
        }
        guard c.status == .open else { throw ParleyError.conflict("case \(c.caseNumber) is closed", code: "case_closed") }
        let now = clock.now()
        if let at = r.sendAt, at > now.addingTimeInterval(366 * 86_400) {
            throw ParleyError.badRequest("send_at is more than a year ahead; choose a time within the next 12 months", code: "invalid_send_at")
        }
        var subject = r.subject?.trimmingCharacters(in: .whitespacesAndNewlines)
        var body = r.body
        var html: String?
        if subject?.isEmpty ?? true || body?.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ?? true {
            let docs = try await repo.documents(tenantID: tenantID, caseIDs: [c.id], on: db).filter { $0.status.isOutstanding }
            let composed = try compose(c, outstanding: docs, type: r.emailType, template: template, firm: try await Self.firmName(tenantID: tenantID, on: db))
            if subject?.isEmpty ?? true { subject = composed.subject }
            if body?.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ?? true {
                body = composed.body
                html = composed.html  // the template's HTML part goes only with its own text
            }
        }
        guard let subject, let body, body.count <= 50_000, subject.count <= 300 else {
            throw ParleyError.badRequest("the subject is at most 300 characters and the body at most 50,000", code: "invalid_email_content")
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try await Self.zone(tenantID: tenantID, on: db)
        let day = calendar.dateComponents([.year, .month, .day], from: max(r.sendAt ?? now, now))
        let key = "legal:\(c.id):\(r.emailType.rawValue):\(day.year ?? 0)-\(day.month ?? 0)-\(day.day ?? 0)"
        let accepted: MessageService.Accepted
        do {
            accepted = try await messages.send(ctx, MessageRequest(channel: .email, to: c.clientEmail, subject: subject, text: body, html: html, sendAt: r.sendAt, idempotencyKey: key), on: db)
        } catch let e as ParleyError where e.code == "idempotency_key_reused" {
            throw ParleyError.conflict("a \(r.emailType.rawValue) was already sent for case \(c.caseNumber) today", code: "already_sent_today")
        }
        if !accepted.created, let existing = try await repo.communication(tenantID: tenantID, messageID: accepted.message.id, on: db) {
            return (existing, false)
        }
        let comm = ClientCommunication(id: UUIDv7.make(at: now), tenantID: tenantID, caseID: c.id, channel: "email", recipient: c.clientEmail,
                                       subject: subject, body: body, emailType: r.emailType.rawValue, messageID: accepted.message.id, sentAt: now,
                                       deliveryStatus: accepted.message.status.rawValue)
        try await repo.insert(comm, on: db)
        try await repo.touch(tenantID: tenantID, caseID: c.id, progress: nil, contact: now, at: now, on: db)
        try await audit.record(ctx, action: "case.email.send", targetType: "case", targetID: c.id,
                               details: JSONValue.object(["email_type": .string(r.emailType.rawValue), "message_id": .string(accepted.message.id)]).serialized(),
                               on: db)
        return (comm, true)
    }

    /// "m***@example.com": enough to recognise an address without repeating it.
    public static func mask(_ email: String) -> String {
        guard let at = email.firstIndex(of: "@"), let first = email.first else { return "***" }
        return "\(first)***\(email[at...])"
    }

    // MARK: client uploads

    public enum LinkError: Error { case invalid, expired }

    /// The case and its documents behind an upload link; an invalid, expired or closed link is refused.
    public func resolve(token: String) async throws -> CaseDetail {
        switch UploadLinks.verify(token, keyring: environment.keyring, now: clock.now()) {
        case .failure(.expired):
            throw ParleyError(.forbidden, code: "upload_link_expired", "this upload link has expired; ask the firm for a new one")
        case .failure(.invalid):
            throw ParleyError(.forbidden, code: "upload_link_invalid", "this upload link is not valid")
        case .success(let claims):
            let repo = self.repo
            guard let d = try await store.read({ db in try await repo.detail(tenantID: claims.tenantID, id: claims.caseID, on: db) }) else {
                throw ParleyError(.forbidden, code: "upload_link_invalid", "this upload link is not valid")
            }
            guard d.legalCase.status == .open else {
                throw ParleyError(.forbidden, code: "case_closed", "this case is closed; contact the firm")
            }
            return d
        }
    }

    /// Stores a client's file for one of the case's documents; the document becomes `received`.
    public func upload<S: AsyncSequence & Sendable>(token: String, documentID: String, fileName rawName: String?, chunks: S) async throws -> CaseUpload
    where S.Element == [UInt8] {
        let detail = try await resolve(token: token)
        guard UUIDv7.isValid(documentID), let doc = detail.documents.first(where: { $0.id == documentID }) else {
            throw ParleyError.notFound("document \(documentID.prefix(64)) is not part of this case", code: "document_not_found")
        }
        guard doc.status != .accepted else {
            throw ParleyError.conflict("\(doc.name) was already accepted; nothing more is needed", code: "document_already_accepted")
        }
        guard let fileName = rawName.flatMap({ UploadFileTypes.sanitize($0) }) else {
            throw ParleyError.badRequest("send the file's name in the X-File-Name header", code: "invalid_file_name")
        }
        let writer = UploadWriter(directory: environment.settings.uploadDirectory, maxBytes: environment.settings.uploadMaxBytes)
        let written: UploadWriter.Written
        do {
            written = try await writer.write(tenantID: detail.legalCase.tenantID, caseID: detail.legalCase.id, fileName: fileName, chunks: chunks)
        } catch UploadWriter.Failure.tooLarge {
            throw ParleyError(.payloadTooLarge, code: "file_too_large", "the file is larger than \(environment.settings.uploadMaxBytes / (1 << 20)) MiB")
        } catch UploadWriter.Failure.disallowedType {
            throw ParleyError(.unsupportedMediaType, code: "file_type_not_allowed",
                              "only PDF, PNG, JPEG, HEIC, DOCX, XLSX and TXT files are accepted, and the content must match the extension")
        } catch UploadWriter.Failure.empty {
            throw ParleyError.badRequest("the file is empty", code: "empty_file")
        }
        let now = clock.now()
        let upload = CaseUpload(id: UUIDv7.make(at: now), tenantID: detail.legalCase.tenantID, caseID: detail.legalCase.id, requestedDocID: doc.id,
                                fileName: fileName, contentType: written.kind.contentType, sizeBytes: written.size, sha256: written.sha256,
                                storagePath: written.path, uploadedAt: now)
        let repo = self.repo
        do {
            try await store.transaction { db in
                try await repo.insert(upload, on: db)
                var d = doc
                d.status = .received
                d.isCompleted = false
                d.completedAt = nil
                d.updatedAt = now
                try await repo.update(d, on: db)
                try await repo.touch(tenantID: d.tenantID, caseID: d.caseID, progress: now, contact: nil, at: now, on: db)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: written.path)
            throw error
        }
        return upload
    }
}
