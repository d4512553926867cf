import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ParleyCore
import ParleyHTTP
import ParleyStorage
import Testing

/// The `multipart/form-data` parser: well-formed forms however they are split into chunks, and
/// hostile bodies each ending in a typed 4xx.
@Suite struct MultipartParserTests {
    static let fields: Set<String> = ["file", "collection", "title", "tags"]

    static func parse(_ body: String, boundary: String = "XyZ", limits: MultipartLimits = MultipartLimits(maxTotalBytes: 1 << 20),
                      chunk: Int = .max) throws(ParleyError) -> MultipartForm {
        var parser = MultipartParser(boundary: boundary, fields: fields, limits: limits)
        let bytes = Array(body.utf8)
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + chunk)
            try parser.feed(bytes[i..<end])
            i = end
        }
        return try parser.finish()
    }

    static func code(_ body: String, boundary: String = "XyZ", limits: MultipartLimits = MultipartLimits(maxTotalBytes: 1 << 20)) -> String? {
        do {
            _ = try parse(body, boundary: boundary, limits: limits)
            return nil
        } catch {
            return error.code
        }
    }

    static let wellFormed = "a preamble line to ignore\r\n"
        + "--XyZ\r\n"
        + "Content-Disposition: form-data; name=\"collection\"\r\n\r\n"
        + "help\r\n"
        + "--XyZ  \r\n"
        + "content-disposition: form-data; name=\"file\"; filename=\"la \\\"mp\\\"; v2.md\"\r\n"
        + "Content-Type: text/markdown\r\n\r\n"
        + "# Lamp\r\n\r\nNot a delimiter: --XyZ--, nor \n--XyZ without CR.\r\n"
        + "--XyZ\r\n"
        + "Content-Disposition: form-data; name=\"tags\"\r\n\r\n"
        + "\r\n"
        + "--XyZ--\r\nan epilogue to ignore"

    @Test func aWellFormedFormParsesTheSameHoweverItIsSplit() throws {
        let whole = try Self.parse(Self.wellFormed)
        #expect(whole.parts.map(\.name) == ["collection", "file", "tags"])
        #expect(try whole["collection"]?.text() == "help")
        let file = try #require(whole["file"])
        #expect(file.filename == "la \"mp\"; v2.md" && file.contentType == "text/markdown")
        #expect(try file.text() == "# Lamp\r\n\r\nNot a delimiter: --XyZ--, nor \n--XyZ without CR.")
        #expect(whole["tags"]?.body == [] && whole["title"] == nil)
        for chunk in [1, 2, 3, 5, 7, 8, 13, 64] {
            #expect(try Self.parse(Self.wellFormed, chunk: chunk) == whole, "chunks of \(chunk) bytes")
        }
        // Binary content with CR, LF and NUL bytes survives byte for byte.
        let binary: [UInt8] = [0, 13, 10, 45, 45, 88, 255, 13, 10, 13]
        var parser = MultipartParser(boundary: "b", fields: ["file"], limits: MultipartLimits(maxTotalBytes: 1000))
        try parser.feed(Array("--b\r\nContent-Disposition: form-data; name=file; filename=x.bin\r\n\r\n".utf8))
        try parser.feed(binary)
        try parser.feed(Array("\r\n--b--".utf8))
        #expect(try parser.finish()["file"]?.body == binary)
    }

    @Test func theBoundaryComesFromTheContentType() throws {
        #expect(try MultipartParser.boundary(contentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(try MultipartParser.boundary(contentType: "Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"") == "a b:c")
        let refusals: [(String, String)] = [
            ("multipart/form-data", "missing_boundary"),
            ("multipart/form-data; boundary=", "missing_boundary"),
            ("multipart/form-data; boundary=\"\"", "missing_boundary"),
            ("multipart/form-data; boundary=" + String(repeating: "a", count: 71), "missing_boundary"),
            ("multipart/form-data; boundary=a{b}", "missing_boundary"),
            ("multipart/mixed; boundary=abc", "unsupported_media_type"),
        ]
        for (header, code) in refusals {
            do {
                _ = try MultipartParser.boundary(contentType: header)
                Issue.record("accepted '\(header)'")
            } catch {
                #expect(error.code == code, "\(header)")
            }
        }
    }

    @Test func hostileBodiesAnswerTypedErrors() {
        let part = "Content-Disposition: form-data; name=\"collection\"\r\n\r\nhelp\r\n"
        let cases: [(String, String, String)] = [
            ("empty body", "", "truncated_multipart"),
            ("no delimiter at all", "just some text\r\n", "truncated_multipart"),
            ("truncated in a part", "--XyZ\r\n" + part.dropLast(4), "truncated_multipart"),
            ("truncated in the headers", "--XyZ\r\nContent-Disposition: form-da", "truncated_multipart"),
            ("no closing delimiter", "--XyZ\r\n" + part, "truncated_multipart"),
            ("duplicate part", "--XyZ\r\n" + part + "--XyZ\r\n" + part + "--XyZ--", "duplicate_part"),
            ("unknown part", "--XyZ\r\nContent-Disposition: form-data; name=\"colection\"\r\n\r\nx\r\n--XyZ--", "unknown_part"),
            ("no disposition", "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", "invalid_multipart"),
            ("not form-data", "--XyZ\r\nContent-Disposition: attachment; name=\"file\"\r\n\r\nx\r\n--XyZ--", "invalid_multipart"),
            ("no name", "--XyZ\r\nContent-Disposition: form-data; filename=\"a.md\"\r\n\r\nx\r\n--XyZ--", "invalid_multipart"),
            ("two names", "--XyZ\r\nContent-Disposition: form-data; name=file; name=tags\r\n\r\nx\r\n--XyZ--", "invalid_multipart"),
            ("two dispositions", "--XyZ\r\n" + "Content-Disposition: form-data; name=file\r\n" + part + "--XyZ--", "invalid_multipart"),
            ("header without a colon", "--XyZ\r\nContent-Disposition form-data\r\n\r\nx\r\n--XyZ--", "invalid_multipart"),
            ("folded header", "--XyZ\r\nContent-Disposition: form-data;\r\n name=file\r\n\r\nx\r\n--XyZ--", "invalid_multipart"),
            ("LF line ends", "--XyZ\nContent-Disposition: form-data; name=file\n\nx\n--XyZ--", "invalid_multipart"),
            ("text after a delimiter", "--XyZ\r\n" + part + "--XyZjunk\r\n", "invalid_multipart"),
            ("a strange field name", "--XyZ\r\nContent-Disposition: form-data; name=\"\u{FFFD}\"\r\n\r\nx\r\n--XyZ--", "unknown_part"),
            ("header block too long", "--XyZ\r\nContent-Disposition: form-data; name=file\r\nX-Pad: " + String(repeating: "a", count: 9000) + "\r\n\r\nx\r\n--XyZ--",
             "multipart_header_too_large"),
            ("endless header", "--XyZ\r\nX-Pad: " + String(repeating: "a", count: 9000), "multipart_header_too_large"),
        ]
        for (what, body, code) in cases {
            #expect(Self.code(body) == code, "\(what)")
        }
        // Too many parts, too many bytes.
        let three = ["collection", "title", "tags"].map { "--XyZ\r\nContent-Disposition: form-data; name=\"\($0)\"\r\n\r\nx\r\n" }.joined() + "--XyZ--"
        #expect(Self.code(three, limits: MultipartLimits(maxTotalBytes: 1 << 20, maxParts: 2)) == "too_many_parts")
        #expect(Self.code(three, limits: MultipartLimits(maxTotalBytes: 100)) == "payload_too_large")
        #expect(Self.code(three) == nil)
        // Bytes that are not UTF-8 in the headers.
        var parser = MultipartParser(boundary: "b", fields: ["file"], limits: MultipartLimits(maxTotalBytes: 1000))
        #expect(throws: ParleyError.self) {
            try parser.feed(Array("--b\r\nContent-Disposition: form-data; name=".utf8) + [0xFF, 0xFE] + Array("\r\n\r\nx\r\n--b--".utf8))
        }
    }
}

/// Form uploads on the routes: `POST /v1/rag/documents` and `POST /v1/convert`.
@Suite struct MultipartRouteTests {
    static func form(_ parts: [(name: String, filename: String?, type: String?, body: String)], boundary: String = "----parley7MA4YWxk") -> String {
        parts.map { p in
            var head = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(p.name)\""
            if let f = p.filename { head += "; filename=\"\(f)\"" }
            head += "\r\n"
            if let t = p.type { head += "Content-Type: \(t)\r\n" }
            return head + "\r\n" + p.body + "\r\n"
        }.joined() + "--\(boundary)--\r\n"
    }

    static let formType = "multipart/form-data; boundary=----parley7MA4YWxk"

    @Test(arguments: TestEnv.kinds)
    func aFormUploadAddsADocumentAndBadFormsGetTyped4xx(_ kind: DatabaseKind) async throws {
        try await withSupportServer(kind) { client, seeded, _, _ in
            let key = seeded.adminKey
            try await client.createCollection(key, "help")
            let lamp = SupportCorpus.documents[2].text
            let body = Self.form([("collection", nil, nil, "help"), ("tags", nil, nil, "devices, wifi"),
                                  ("file", "lamp.md", "application/octet-stream", lamp)])
            let created = try await client.upload(key, "/v1/rag/documents", bytes: body, contentType: Self.formType, status: .created)
            #expect(created["document"]?["title"] == "Troubleshooting" && created["document"]?["source_filename"] == "lamp.md")
            #expect(created["document"]?["tags"] == ["devices", "wifi"] && created["document"]?["format"] == "markdown")
            #expect(created["document"]?["embedding"] == "none")
            // A title field wins over the document's heading; the same file again is unchanged.
            let titled = Self.form([("collection", nil, nil, "help"), ("title", nil, nil, "Lamp FAQ"), ("file", "lamp-faq.md", nil, lamp)])
            #expect(try await client.upload(key, "/v1/rag/documents", bytes: titled, contentType: Self.formType, status: .created)["document"]?["title"] == "Lamp FAQ")
            #expect(try await client.upload(key, "/v1/rag/documents", bytes: body, contentType: Self.formType, status: .ok)["outcome"] == "unchanged")
            let hits = try await client.postJSON(key, "/v1/rag/search", ["query": "lamp router wifi"])
            #expect(hits["results"]?[0]?["document_title"] == "Troubleshooting")

            let refusals: [(String, String, String, HTTPResponse.Status, String)] = [
                ("/v1/rag/documents", Self.form([("collection", nil, nil, "help")]), Self.formType, .badRequest, "missing_file"),
                ("/v1/rag/documents", Self.form([("file", "a.md", nil, "# A")]), Self.formType, .badRequest, "invalid_collection"),
                ("/v1/rag/documents", Self.form([("collection", nil, nil, "nope"), ("file", "a.md", nil, "# A\n\nbody")]), Self.formType, .notFound, "collection_not_found"),
                ("/v1/rag/documents", Self.form([("collection", nil, nil, "help"), ("file", "a.md", nil, "")]), Self.formType, .badRequest, "empty_document"),
                ("/v1/rag/documents", Self.form([("collection", nil, nil, "help"), ("collection", nil, nil, "help")]), Self.formType, .badRequest, "duplicate_part"),
                ("/v1/rag/documents", Self.form([("collection", nil, nil, "help"), ("text", nil, nil, "hi")]), Self.formType, .badRequest, "unknown_part"),
                ("/v1/rag/documents", String(Self.form([("collection", nil, nil, "help"), ("file", "a.md", nil, "# A")]).dropLast(12)), Self.formType,
                 .badRequest, "truncated_multipart"),
                ("/v1/rag/documents", Self.form([("file", "a.md", nil, "# A")]), "multipart/form-data", .badRequest, "missing_boundary"),
                ("/v1/rag/documents", Self.form([("file", "x.bin", nil, "\u{1}\u{2}"), ("collection", nil, nil, "help")]), Self.formType,
                 .unsupportedMediaType, "unsupported_format"),
                ("/v1/rag/documents?collection=help", Self.form([("file", "a.md", nil, "# A")]), Self.formType, .badRequest, "unknown_parameter"),
                ("/v1/rag/documents", "--x\r\n", "multipart/mixed; boundary=x", .unsupportedMediaType, "unsupported_media_type"),
                ("/v1/convert", Self.form([("file", "a.md", nil, "# A"), ("title", nil, nil, "x")]), Self.formType, .badRequest, "unknown_part"),
                ("/v1/convert", Self.form([("file", "a.md", nil, "# A"), ("file", "b.md", nil, "# B")]), Self.formType, .badRequest, "duplicate_part"),
                ("/v1/convert", Self.form([]), Self.formType, .badRequest, "missing_file"),
                ("/v1/convert", "------parley7MA4YWxk\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n# A", Self.formType, .badRequest, "truncated_multipart"),
            ]
            for (uri, body, type, status, code) in refusals {
                let answer = try await client.upload(key, uri, bytes: body, contentType: type, status: status)
                #expect(answer["error"]?["code"]?.stringValue == code, "\(uri) \(body.prefix(80)): \(answer)")
                #expect(answer["error"]?["message"]?.stringValue?.isEmpty == false)
            }
            // /v1/convert reads a form too.
            let converted = try await client.upload(key, "/v1/convert", bytes: Self.form([("file", "prices.csv", "text/csv", "plan,price\nPlus,4.99\n")]),
                                                    contentType: Self.formType, status: .ok)
            #expect(converted["format"] == "csv" && converted["markdown"] == "| plan | price |\n| --- | --- |\n| Plus | 4.99 |\n")
        }
    }

    /// A real client's uploads: Python `requests` builds the multipart bodies.
    @Test(arguments: TestEnv.kinds)
    func pythonRequestsUploadsAreRead(_ kind: DatabaseKind) async throws {
        let python = ProcessInfo.processInfo.environment["PARLEY_TEST_PYTHON"] ?? "python3"
        let probe = try await runCommand("/usr/bin/env", [python, "-c", "import requests"])
        guard probe.status == 0 else { throw TestFailure("Python requests is missing (\(python)); scripts/test installs Tests/requirements.txt") }
        try await withAgentServer(kind, testing: .live) { client, seeded, _, _ in
            try await client.createCollection(seeded.adminKey, "help")
            let script = """
                import json, sys, requests
                base, key = sys.argv[1], sys.argv[2]
                h = {"Authorization": "Bearer " + key}
                out = []
                r = requests.post(base + "/v1/rag/documents", headers=h,
                                  data={"collection": "help", "tags": "billing,plans", "title": "Prices"},
                                  files={"file": ("prïces.csv", b"plan,monthly\\nPlus,4.99\\nStudio,12.99\\n", "text/csv")})
                out.append([r.status_code, r.json()])
                r = requests.post(base + "/v1/rag/documents", headers=h, data={"collection": "help"},
                                  files={"file": ("guide.html", b"<h1>Guide</h1>" + b"<p>Hold the button for five seconds to pair the lamp.</p>" * 6000)})
                out.append([r.status_code, r.json()])
                r = requests.post(base + "/v1/convert", headers=h, files={"file": ("notes.md", "# Notes\\n\\nÉtape un.\\n".encode())})
                out.append([r.status_code, r.json()])
                r = requests.post(base + "/v1/rag/documents", headers=h, data={"collection": "help", "colour": "red"},
                                  files={"file": ("a.md", b"# A")})
                out.append([r.status_code, r.json()])
                print(json.dumps(out))
                """
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("parley-multipart-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = dir.appendingPathComponent("upload.py")
            try Data(script.utf8).write(to: path)
            let run = try await runCommand("/usr/bin/env", [python, path.path, "http://127.0.0.1:\(try #require(client.port))", seeded.adminKey])
            #expect(run.status == 0, "\(run.output)")
            let results = try #require(try JSONValue.parse(run.output.trimmingCharacters(in: .whitespacesAndNewlines)).arrayValue)
            #expect(results.count == 4)
            #expect(results[0][0] == 201 && results[0][1]?["document"]?["source_filename"] == "prïces.csv", "\(results[0])")
            #expect(results[0][1]?["document"]?["title"] == "Prices" && results[0][1]?["document"]?["tags"] == ["billing", "plans"])
            #expect(results[1][0] == 201 && results[1][1]?["document"]?["title"] == "Guide" && results[1][1]?["document"]?["format"] == "html", "\(results[1])")
            #expect(results[2][0] == 200 && results[2][1]?["markdown"]?.stringValue?.contains("Étape un.") == true, "\(results[2])")
            #expect(results[3][0] == 400 && results[3][1]?["error"]?["code"] == "unknown_part", "\(results[3])")
        }
    }
}
