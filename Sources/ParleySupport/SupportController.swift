import Foundation
import HTTPTypes
import Hummingbird
import ParleyConvert
import ParleyCore
import ParleyHTTP

/// The knowledge base's API under `/v1/rag/`.
struct SupportController {
    let kb: KnowledgeService
    let answers: ModelAnswers
    let converter: DocumentConverter
    let maxBodyBytes: Int

    static let documentFields: Set<String> = ["collection", "title", "text", "content", "format", "tags", "filename"]

    static func string(_ body: JSONValue, _ key: String) throws -> String? {
        switch body[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw ParleyError.badRequest("\(key) must be a string", code: "invalid_\(key)")
        }
    }

    static func tags(_ body: JSONValue) throws -> [String] { try strings(body, "tags") }

    static func strings(_ body: JSONValue, _ key: String) throws -> [String] {
        switch body[key] {
        case nil, .null?: return []
        case .array(let items)?:
            return try items.map { item in
                guard let s = item.stringValue else { throw ParleyError.badRequest("\(key) must be an array of strings", code: "invalid_\(key)") }
                return s
            }
        default: throw ParleyError.badRequest("\(key) must be an array of strings", code: "invalid_\(key)")
        }
    }

    /// A JSON document: `text` (or `content`) in Markdown or plain text, or another format the
    /// converter reads as text (html, csv, json).
    func ingestRequest(_ body: JSONValue, at place: String = "") throws -> IngestRequest {
        guard case .object(let members) = body else { throw ParleyError.badRequest("each document must be a JSON object\(place)", code: "invalid_json") }
        if let name = members.keys.sorted().first(where: { !Self.documentFields.contains($0) }) {
            throw ParleyError.badRequest("unknown field '\(name)'\(place); a document has " + Self.documentFields.sorted().joined(separator: ", "),
                                         code: "unknown_field")
        }
        guard let collection = try Self.string(body, "collection"), !collection.isEmpty else {
            throw ParleyError.badRequest("collection is required\(place): the name of a collection (POST /v1/rag/collections)", code: "invalid_collection")
        }
        let text = try Self.string(body, "text")
        let content = try Self.string(body, "content")
        if text != nil && content != nil { throw ParleyError.badRequest("send text or content, not both\(place)", code: "invalid_text") }
        guard let raw = text ?? content else { throw ParleyError.badRequest("text is required\(place): the document's Markdown or plain text", code: "invalid_text") }
        guard !raw.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ParleyError.badRequest("text is empty\(place); send the document's text", code: "empty_document")
        }
        let formatName = (try Self.string(body, "format") ?? "markdown").lowercased()
        guard let format = DocumentFormat(rawValue: formatName == "md" ? "markdown" : formatName == "txt" ? "text" : formatName),
              [.markdown, .text, .html, .csv, .json].contains(format) else {
            throw ParleyError.badRequest("format must be markdown, text, html, csv or json for a text body\(place) (upload other files as the request body)",
                                         code: "invalid_format")
        }
        let filename = try Self.string(body, "filename")
        var title = try Self.string(body, "title")
        let markdown: String
        if format == .markdown || format == .text {
            markdown = raw
        } else {
            let converted = try converter.convert(Array(raw.utf8), filename: "document.\(format.rawValue)")
            markdown = converted.markdown
            title = title ?? converted.title
        }
        return IngestRequest(collection: collection, title: title, filename: filename, markdown: markdown, format: format.rawValue, tags: try Self.tags(body))
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.post, "/rag/collections") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["name", "description"])
            guard let name = try Self.string(body, "name") else { throw ParleyError.badRequest("name is required", code: "invalid_name") }
            let description = try Self.string(body, "description")
            if let d = description, d.count > 1000 { throw ParleyError.badRequest("description must be at most 1000 characters", code: "invalid_description") }
            return JSON(try await kb.createCollection(try ctx.action(), name: name, description: description), status: .created)
        }
        r.on(.get, "/rag/collections", query: ["include_deleted"]) { req, ctx in
            JSON(Page(data: try await kb.collections(try ctx.caller(), includeDeleted: try req.includeDeleted()), nextCursor: nil))
        }
        r.on(.delete, "/rag/collections/:name") { _, ctx in
            JSON(try await kb.deleteCollection(try ctx.action(), name: try ctx.parameters.require("name")))
        }
        r.on(.post, "/rag/collections/:name/restore") { _, ctx in
            JSON(try await kb.restoreCollection(try ctx.action(), name: try ctx.parameters.require("name")))
        }
        r.on(.post, "/rag/documents", query: ["collection", "filename", "title", "tags"]) { req, ctx in
            let action = try ctx.action()
            let mediaType = req.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            let request: IngestRequest
            if req.isMultipartForm {
                request = try await formUpload(req)
            } else if mediaType == "application/json" {
                if let name = ["collection", "filename", "title", "tags"].first(where: { req.queryString($0) != nil }) {
                    throw ParleyError.badRequest("with a JSON body, send '\(name)' in the body, not the query", code: "unknown_parameter")
                }
                request = try ingestRequest(try await req.decodeJSONObject(limit: maxBodyBytes, fields: Self.documentFields))
            } else {
                request = try await upload(req, mediaType: mediaType)
            }
            let result = try await kb.ingest(action, request)
            return JSON(result, status: result.outcome == .created ? .created : .ok)
        }
        r.on(.post, "/rag/documents/batch") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["documents"])
            guard let items = body["documents"]?.arrayValue else {
                throw ParleyError.badRequest("documents is required: an array of {collection, title, text, format?, tags?}", code: "invalid_documents")
            }
            let requests = try items.enumerated().map { i, item in try ingestRequest(item, at: " (documents[\(i)])") }
            return JSON(try await kb.createBatch(try ctx.action(), requests), status: .accepted)
        }
        r.on(.get, "/rag/batches/:batch_id") { _, ctx in
            JSON(try await kb.batch(try ctx.caller(), id: try ctx.parameters.require("batch_id")))
        }
        r.on(.get, "/rag/documents", query: Paging.parameters + ["collection", "include_deleted"]) { req, ctx in
            let query = try Paging.read(req, default: 50, max: 200)
            let page = try await kb.documents(try ctx.caller(), collection: req.queryString("collection"), before: query.cursor, limit: query.limit,
                                              includeDeleted: try req.includeDeleted())
            return JSON(Page(data: page.documents, nextCursor: page.next))
        }
        r.on(.get, "/rag/documents/:document_id", query: ["include_deleted"]) { req, ctx in
            JSON(try await kb.document(try ctx.caller(), id: try ctx.parameters.require("document_id"), includeDeleted: try req.includeDeleted()))
        }
        r.on(.delete, "/rag/documents/:document_id") { _, ctx in
            let id = try ctx.parameters.require("document_id")
            let doc = try await kb.delete(try ctx.action(), id: id)
            return RawJSON(value: ["id": .string(id), "deleted": true, "deleted_at": doc.deletedAt.map { JSONValue.string(Retention.format($0)) } ?? JSONValue.null])
        }
        r.on(.post, "/rag/documents/:document_id/restore") { _, ctx in
            JSON(try await kb.restore(try ctx.action(), id: try ctx.parameters.require("document_id")))
        }
        r.on(.post, "/rag/search") { req, ctx in
            JSON(try await kb.search(try ctx.caller(), try await searchRequest(req)))
        }
        r.on(.post, "/rag/query") { req, ctx in
            JSON(try await answers.answer(try ctx.caller(), try await searchRequest(req)))
        }
        r.on(.get, "/rag/settings") { _, ctx in
            JSON(try await kb.thresholds(try ctx.caller()))
        }
        r.on(.put, "/rag/settings") { req, ctx in
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["min_bm25", "min_similarity"])
            func number(_ key: String) throws -> Double? {
                guard let v = body[key], !v.isNull else { return nil }
                guard let d = v.doubleValue else { throw ParleyError.badRequest("\(key) must be a number or null", code: "invalid_threshold") }
                return d
            }
            return JSON(try await kb.setThresholds(try ctx.action(), minBM25: try number("min_bm25"), minSimilarity: try number("min_similarity")))
        }
    }

    func searchRequest(_ req: Request) async throws -> SearchRequest {
        let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["query", "collection", "collections", "document_id", "tags", "k", "mode"])
        guard let query = try Self.string(body, "query") else { throw ParleyError.badRequest("query is required", code: "invalid_query") }
        let collections = try Self.strings(body, "collections")
        guard collections.count <= 50 else {
            throw ParleyError.badRequest("collections must name at most 50 collections", code: "invalid_collections")
        }
        var request = SearchRequest(query: query, collection: try Self.string(body, "collection"), collections: collections,
                                    documentID: try Self.string(body, "document_id"), tags: try Self.tags(body))
        if let v = body["k"], !v.isNull {
            guard let k = v.intValue else { throw ParleyError.badRequest("k must be an integer from 1 to \(KnowledgeService.maxK)", code: "invalid_k") }
            request.k = k
        }
        if let m = try Self.string(body, "mode") {
            guard let mode = SearchMode(rawValue: m.lowercased()) else {
                throw ParleyError.badRequest("mode must be hybrid, bm25 or vector", code: "invalid_mode")
            }
            request.mode = mode
        }
        return request
    }

    /// A file as the body: its bytes with their Content-Type, `?collection=&filename=`.
    func upload(_ req: Request, mediaType: String) async throws -> IngestRequest {
        guard !mediaType.isEmpty else {
            throw ParleyError(.unsupportedMediaType, code: "unsupported_media_type",
                              "send JSON ({collection, title, text}) or the file itself with its Content-Type and ?collection=&filename=")
        }
        if mediaType.hasPrefix("multipart/") {
            throw ParleyError(.unsupportedMediaType, code: "unsupported_media_type",
                              "of multipart bodies only multipart/form-data is read (a 'file' part and 'collection', 'title', 'tags' fields)")
        }
        guard let collection = req.queryString("collection") else {
            throw ParleyError.badRequest("collection is required: ?collection=<name> with a file body", code: "invalid_collection")
        }
        let filename = req.queryString("filename")
        var copy = req
        let buffer = try await copy.collectBody(upTo: maxBodyBytes)
        let bytes = Array(buffer: buffer)
        guard !bytes.isEmpty else { throw ParleyError.badRequest("the file is empty", code: "empty_document") }
        let converted = try converter.convert(bytes, filename: filename, contentType: mediaType)
        let tags = req.queryString("tags").map(Self.commaTags) ?? []
        return IngestRequest(collection: collection, title: req.queryString("title") ?? converted.title, filename: filename,
                             markdown: converted.markdown, format: converted.format.rawValue, tags: tags)
    }

    static func commaTags(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static let formFields: Set<String> = ["file", "collection", "title", "tags"]

    /// A browser-style upload: `multipart/form-data` with a `file` part (its filename and type
    /// name the format) and `collection`, optional `title` and `tags` (comma-separated) fields.
    func formUpload(_ req: Request) async throws -> IngestRequest {
        if let name = ["collection", "filename", "title", "tags"].first(where: { req.queryString($0) != nil }) {
            throw ParleyError.badRequest("with a form upload, send '\(name)' as a form field, not in the query", code: "unknown_parameter")
        }
        let form = try await req.multipartForm(limit: maxBodyBytes, fields: Self.formFields)
        guard let file = form["file"] else {
            throw ParleyError.badRequest("the form has no 'file' part; add the document as a file field named 'file'", code: "missing_file")
        }
        guard let collection = try form["collection"]?.text().trimmingCharacters(in: .whitespaces), !collection.isEmpty else {
            throw ParleyError.badRequest("collection is required: a form field 'collection' with the name of a collection", code: "invalid_collection")
        }
        guard !file.body.isEmpty else { throw ParleyError.badRequest("the file is empty", code: "empty_document") }
        let filename = file.filename.flatMap { $0.isEmpty ? nil : $0 }
        let converted = try converter.convert(file.body, filename: filename, contentType: file.contentType)
        let title = try form["title"]?.text().trimmingCharacters(in: .whitespaces)
        return IngestRequest(collection: collection, title: title.flatMap { $0.isEmpty ? nil : $0 } ?? converted.title, filename: filename,
                             markdown: converted.markdown, format: converted.format.rawValue, tags: try form["tags"].map { Self.commaTags(try $0.text()) } ?? [])
    }
}
