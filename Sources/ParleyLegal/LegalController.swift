import Foundation
import HTTPTypes
import Hummingbird
import ParleyAgent
import ParleyCore
import ParleyHTTP

/// The legal pack's API under `/v1/` (cases, documents, email, upload links).
struct LegalController {
    let cases: CaseService
    let maxBodyBytes: Int

    static func string(_ body: JSONValue, _ key: String) throws -> String? {
        switch body[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw ParleyError.badRequest("\(key) must be a string", code: "invalid_\(key)")
        }
    }

    static func status(_ text: String?) throws -> CaseStatus? {
        guard let text, !text.isEmpty, text.uppercased() != "ALL", text.uppercased() != "ANY" else { return nil }
        guard let s = CaseStatus(rawValue: text.uppercased()) else {
            throw ParleyError.badRequest("status must be OPEN, CLOSED or ALL", code: "invalid_status")
        }
        return s
    }

    /// `send_at`: an ISO 8601 time; nil sends now.
    static func sendAt(_ text: String?) throws -> Date? {
        guard let text, !text.isEmpty else { return nil }
        guard let date = JSONCoding.parse(text) else {
            throw ParleyError.badRequest("send_at must be an ISO 8601 time such as 2026-01-31T09:00:00Z, got '\(text.prefix(40))'", code: "invalid_send_at")
        }
        // The same bounds as every other timestamp the API accepts.
        try JSONCoding.checkRange(date, text, name: "field 'send_at'")
        return date
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/cases/search") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["client_name", "status", "use_fuzzy_matching", "fuzzy_threshold", "limit"])
            guard let name = try Self.string(body, "client_name") else {
                throw ParleyError.badRequest("client_name is required", code: "invalid_client_name")
            }
            var search = CaseSearch(clientName: name, status: try Self.status(try Self.string(body, "status") ?? "OPEN"))
            if let v = body["use_fuzzy_matching"], !v.isNull {
                guard let b = v.boolValue else { throw ParleyError.badRequest("use_fuzzy_matching must be true or false", code: "invalid_request") }
                search.fuzzy = b
            }
            if let v = body["fuzzy_threshold"], !v.isNull {
                guard let t = v.doubleValue else { throw ParleyError.badRequest("fuzzy_threshold must be a number between 0 and 1", code: "invalid_threshold") }
                search.threshold = t
            }
            if let v = body["limit"], !v.isNull {
                guard let n = v.intValue else { throw ParleyError.badRequest("limit must be an integer from 1 to \(CaseService.maxSearchLimit)", code: "invalid_limit") }
                search.limit = n
            }
            let found = try await cases.search(try ctx.caller(), search)
            return RawJSON(value: ["cases": .array(found.cases.map(LegalViews.summary)), "total_found": .number(Double(found.totalFound))])
        }
        r.on(.get, "/cases/pending-reminders") { _, ctx in
            let pending = try await cases.pendingReminders(try ctx.caller())
            return RawJSON(value: ["cases": .array(pending.map(LegalViews.reminder)), "total": .number(Double(pending.count))])
        }
        r.on(.get, "/cases", query: Paging.parameters + ["status", "include_deleted"]) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            let page = try await cases.list(try ctx.caller(), status: try Self.status(req.queryString("status")), before: query.cursor, limit: query.limit,
                                            includeDeleted: try req.includeDeleted())
            return RawJSON(value: Paging.envelope(page.cases.map(LegalViews.summary), next: page.next))
        }
        r.on(.post, "/cases") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["client_name", "client_email", "client_phone", "case_number", "requested_documents", "documents_requested"])
            let created = try await cases.create(try ctx.action(), try CaseInput.newCase(body))
            return RawJSON(value: LegalViews.detail(created), status: .created)
        }
        r.on(.get, "/cases/:case_id", query: ["include_deleted"]) { req, ctx in
            RawJSON(value: LegalViews.detail(try await cases.get(try ctx.caller(), id: try ctx.parameters.require("case_id"), includeDeleted: try req.includeDeleted())))
        }
        r.on(.delete, "/cases/:case_id") { _, ctx in
            RawJSON(value: LegalViews.detail(try await cases.delete(try ctx.action(), id: try ctx.parameters.require("case_id"))))
        }
        r.on(.post, "/cases/:case_id/restore") { _, ctx in
            RawJSON(value: LegalViews.detail(try await cases.restore(try ctx.action(), id: try ctx.parameters.require("case_id"))))
        }
        r.on(.patch, "/cases/:case_id") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["client_name", "client_email", "client_phone"])
            var update = CaseService.ContactUpdate(clientName: try Self.string(body, "client_name"), clientEmail: try Self.string(body, "client_email"))
            if let phone = body["client_phone"] { update.clientPhone = .some(phone.isNull ? nil : try Self.string(body, "client_phone")) }
            guard update.clientName != nil || update.clientEmail != nil || update.clientPhone != nil else {
                throw ParleyError.badRequest("send at least one of client_name, client_email, client_phone", code: "empty_update")
            }
            return RawJSON(value: LegalViews.detail(try await cases.update(try ctx.action(), id: try ctx.parameters.require("case_id"), update)))
        }
        r.on(.post, "/cases/:case_id/close") { _, ctx in
            RawJSON(value: LegalViews.detail(try await cases.close(try ctx.action(), id: try ctx.parameters.require("case_id"))))
        }
        r.on(.get, "/cases/:case_id/reminder-preview", query: ["email_type"]) { req, ctx in
            guard let type = EmailType(rawValue: req.queryString("email_type") ?? "") else {
                throw ParleyError.badRequest("email_type must be initial_reminder, follow_up_reminder or urgent_reminder", code: "invalid_email_type")
            }
            let email = try await cases.compose(try ctx.caller(), caseID: try ctx.parameters.require("case_id"), type: type)
            // With the HTML part, so a person sees the email as the client will.
            guard case .object(var view) = LegalViews.composed(email) else { return RawJSON(value: LegalViews.composed(email)) }
            view["html"] = email.html.map { .string($0) } ?? .null
            return RawJSON(value: .object(view))
        }
        r.on(.post, "/cases/:case_id/upload-link") { _, ctx in
            let link = try await cases.uploadLink(try ctx.caller(), caseID: try ctx.parameters.require("case_id"))
            return JSON(UploadLinkView(url: link.url, expiresAt: link.expiresAt))
        }
        r.on(.put, "/cases/documents/:requested_doc_id") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["status", "notes", "is_completed"])
            var update = CaseService.DocumentUpdate(notes: try Self.string(body, "notes"))
            if let s = try Self.string(body, "status") {
                guard let status = DocumentStatus(rawValue: s.lowercased()) else {
                    throw ParleyError.badRequest("status must be requested, received, accepted or rejected", code: "invalid_status")
                }
                update.status = status
            }
            if let v = body["is_completed"], !v.isNull {
                guard let b = v.boolValue else { throw ParleyError.badRequest("is_completed must be true or false", code: "invalid_request") }
                update.isCompleted = b
            }
            return RawJSON(value: LegalViews.document(try await cases.updateDocument(try ctx.action(), id: try ctx.parameters.require("requested_doc_id"), update)))
        }
        r.on(.post, "/send-email") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["case_id", "recipient_email", "email_type", "subject", "body", "send_at"])
            guard let caseID = try Self.string(body, "case_id") else { throw ParleyError.badRequest("case_id is required", code: "invalid_case_id") }
            guard let recipient = try Self.string(body, "recipient_email") else {
                throw ParleyError.badRequest("recipient_email is required", code: "invalid_email")
            }
            guard let type = EmailType(rawValue: try Self.string(body, "email_type") ?? "") else {
                throw ParleyError.badRequest("email_type must be initial_reminder, follow_up_reminder or urgent_reminder", code: "invalid_email_type")
            }
            var request = CaseService.SendRequest(
                caseID: caseID, emailType: type, subject: try Self.string(body, "subject"), body: try Self.string(body, "body"), recipient: recipient)
            request.sendAt = try Self.sendAt(try Self.string(body, "send_at"))
            let (comm, created) = try await cases.send(try ctx.action(), request)
            return RawJSON(value: LegalViews.communication(comm), status: created ? .accepted : .ok)
        }
    }

    /// Public client upload routes (no API key; the signed link is the credential).
    func registerPublic(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/:token") { _, ctx in
            let detail = try await cases.resolve(token: try ctx.parameters.require("token"))
            return UploadPage.response(detail, maxBytes: cases.environment.settings.uploadMaxBytes)
        }
        r.on(.put, "/:token/documents/:requested_doc_id") { req, ctx in
            let name = req.headers[.xFileName].map { $0.removingPercentEncoding ?? $0 }
            let upload = try await cases.upload(token: try ctx.parameters.require("token"), documentID: try ctx.parameters.require("requested_doc_id"),
                                                fileName: name, chunks: ByteChunks(body: req.body))
            return RawJSON(value: LegalViews.upload(upload), status: .created)
        }
    }
}

extension HTTPField.Name {
    static let xFileName = Self("X-File-Name")!
}

/// A request body as byte arrays, for writing to disk as it arrives.
struct ByteChunks: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let body: RequestBody

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: RequestBody.AsyncIterator
        mutating func next() async throws -> [UInt8]? {
            guard let buffer = try await inner.next() else { return nil }
            return Array(buffer: buffer)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: body.makeAsyncIterator()) }
}

/// The client's upload page: self-contained (no external assets), strict CSP, text set with
/// `textContent` only.
enum UploadPage {
    static func response(_ d: CaseDetail, maxBytes: Int) -> Response {
        let nonce = UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let docs: JSONValue = .array(d.documents.map { doc in
            ["id": .string(doc.id), "name": .string(doc.name), "description": doc.description.map { .string($0) } ?? .null,
             "status": .string(doc.status.rawValue)]
        })
        let data: JSONValue = ["case_number": .string(d.legalCase.caseNumber), "client_name": .string(d.legalCase.clientName),
                               "documents": docs, "max_bytes": .number(Double(maxBytes))]
        // '<' escaped so the data block cannot close its script element.
        let json = data.serialized().replacingOccurrences(of: "<", with: "\\u003c")
        let html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="referrer" content="no-referrer"><title>Upload documents</title>
            <style nonce="\(nonce)">
            body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
            li{margin:1rem 0;padding:1rem;border:1px solid #ddd;border-radius:6px;list-style:none}
            .done{color:#176b2c}.err{color:#a40000}small{color:#555;display:block}
            </style></head>
            <body><h1>Upload documents</h1><p id="intro"></p><ul id="docs"></ul>
            <p><small>Accepted: PDF, PNG, JPEG, HEIC, DOCX, XLSX, TXT.</small></p>
            <script type="application/json" id="data">\(json)</script>
            <script nonce="\(nonce)">
            (function(){
              var data = JSON.parse(document.getElementById('data').textContent);
              var intro = document.getElementById('intro');
              intro.textContent = 'Case #' + data.case_number + ' for ' + data.client_name + '. Upload each document below; files up to ' + Math.floor(data.max_bytes / 1048576) + ' MB.';
              var list = document.getElementById('docs');
              data.documents.forEach(function(doc){
                var li = document.createElement('li');
                var title = document.createElement('strong'); title.textContent = doc.name; li.appendChild(title);
                if (doc.description) { var d = document.createElement('small'); d.textContent = doc.description; li.appendChild(d); }
                var state = document.createElement('small');
                var outstanding = doc.status === 'requested' || doc.status === 'rejected';
                state.textContent = outstanding ? (doc.status === 'rejected' ? 'Please send a new copy.' : 'Still needed.') : 'Received, thank you.';
                state.className = outstanding ? '' : 'done';
                li.appendChild(state);
                if (doc.status !== 'accepted') {
                  var input = document.createElement('input'); input.type = 'file';
                  input.accept = '.pdf,.png,.jpg,.jpeg,.heic,.heif,.docx,.xlsx,.txt';
                  var button = document.createElement('button'); button.type = 'button'; button.textContent = 'Upload';
                  button.addEventListener('click', function(){
                    var file = input.files && input.files[0];
                    if (!file) { state.textContent = 'Choose a file first.'; state.className = 'err'; return; }
                    if (file.size > data.max_bytes) { state.textContent = 'That file is too large.'; state.className = 'err'; return; }
                    button.disabled = true; state.textContent = 'Uploading…'; state.className = '';
                    fetch(location.pathname.replace(/\\/$/, '') + '/documents/' + encodeURIComponent(doc.id), {
                      method: 'PUT', body: file,
                      headers: {'Content-Type': file.type || 'application/octet-stream', 'X-File-Name': encodeURIComponent(file.name)}
                    }).then(function(r){
                      return r.json().then(function(body){
                        if (r.ok) { state.textContent = 'Received, thank you.'; state.className = 'done'; }
                        else { state.textContent = (body.error && body.error.message) || 'Upload failed.'; state.className = 'err'; button.disabled = false; }
                      });
                    }).catch(function(){ state.textContent = 'Upload failed; check your connection and try again.'; state.className = 'err'; button.disabled = false; });
                  });
                  li.appendChild(input); li.appendChild(button);
                }
                list.appendChild(li);
              });
            })();
            </script></body></html>
            """
        return HTMLResponse.page(html, csp: "default-src 'none'; script-src 'nonce-\(nonce)'; style-src 'nonce-\(nonce)'; connect-src 'self'; img-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
    }
}

/// A signed upload link for a case's client.
struct UploadLinkView: Encodable, Sendable {
    var url: String
    var expiresAt: Date
}
