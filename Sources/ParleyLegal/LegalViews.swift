import Foundation
import ParleyAgent
import ParleyCore

/// The JSON shapes of the legal API (and of the tools' results), in one place.
public enum LegalViews {
    static func date(_ d: Date?) -> JSONValue { d.map { .string(Timestamps.format($0)) } ?? .null }
    static func text(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }

    static func caseFields(_ c: LegalCase) -> [String: JSONValue] {
        var o: [String: JSONValue] = ["case_id": .string(c.id), "client_name": .string(c.clientName), "client_email": .string(c.clientEmail),
         "client_phone": text(c.clientPhone), "case_number": .string(c.caseNumber), "status": .string(c.status.rawValue),
         "created_at": date(c.createdAt), "updated_at": date(c.updatedAt)]
        // Only a deleted case (listed with include_deleted) has it.
        if let at = c.deletedAt { o["deleted_at"] = date(at) }
        return o
    }

    public static func summary(_ s: CaseSummary) -> JSONValue {
        var o = caseFields(s.legalCase)
        o["outstanding_documents"] = .number(Double(s.outstandingDocuments))
        if let score = s.matchScore { o["match_score"] = .number(score) }
        return .object(o)
    }

    public static func document(_ d: RequestedDocument) -> JSONValue {
        ["requested_doc_id": .string(d.id), "case_id": .string(d.caseID), "document_name": .string(d.name), "description": text(d.description),
         "status": .string(d.status.rawValue), "is_completed": .bool(d.isCompleted), "completed_at": date(d.completedAt), "notes": text(d.notes),
         "updated_at": date(d.updatedAt)]
    }

    public static func communication(_ c: ClientCommunication) -> JSONValue {
        ["communication_id": .string(c.id), "case_id": .string(c.caseID), "channel": .string(c.channel), "recipient": .string(c.recipient),
         "subject": text(c.subject), "body": .string(c.body), "email_type": .string(c.emailType), "message_id": text(c.messageID),
         "sent_at": date(c.sentAt), "delivery_status": text(c.deliveryStatus)]
    }

    public static func upload(_ u: CaseUpload) -> JSONValue {
        ["upload_id": .string(u.id), "requested_doc_id": .string(u.requestedDocID), "file_name": .string(u.fileName),
         "content_type": .string(u.contentType), "size_bytes": .number(Double(u.sizeBytes)), "sha256": .string(u.sha256),
         "uploaded_at": date(u.uploadedAt)]
    }

    public static func detail(_ d: CaseDetail) -> JSONValue {
        var o = caseFields(d.legalCase)
        o["requested_documents"] = .array(d.documents.map(document))
        o["communications"] = .array(d.communications.map(communication))
        o["uploads"] = .array(d.uploads.map(upload))
        return .object(o)
    }

    public static func reminder(_ r: PendingReminder) -> JSONValue {
        var o = caseFields(r.legalCase)
        o["outstanding_documents"] = .array(r.outstanding.map { .string($0.name) })
        o["suggested_email_type"] = .string(r.emailType.rawValue)
        o["days_without_progress"] = .number(Double(r.daysWithoutProgress))
        o["last_contact_at"] = date(r.legalCase.lastContactAt)
        return .object(o)
    }

    public static func composed(_ e: ComposedEmail) -> JSONValue {
        ["case_id": .string(e.caseID), "email_type": .string(e.emailType.rawValue), "recipient": .string(e.recipient),
         "subject": .string(e.subject), "body": .string(e.body), "upload_url": .string(e.uploadURL),
         "documents": .array(e.documents.map { .string($0) })]
    }
}
