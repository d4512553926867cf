import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ParleyCore
import ParleyStorage
import Testing

/// `POST /v1/convert` and `parley convert`.
@Suite struct ConvertRouteTests {
    @Test(arguments: TestEnv.kinds)
    func anyRoleConvertsARawBodyAndBadDocumentsGetTyped4xx(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, store, clock in
            let seeded = try #require(seeded)
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            let xlsx = try ConvertFixtures.bytes("sample.xlsx")
            // Larger than PARLEY_MAX_BODY_BYTES (4 KiB here): documents have their own limit.
            #expect(xlsx.count > 4096)
            var headers = auth(viewer)
            headers[.contentType] = "application/octet-stream"
            try await client.execute(uri: "/v1/convert?filename=prices.xlsx", method: .post, headers: headers, body: ByteBuffer(bytes: xlsx)) { r in
                #expect(r.status == .ok)
                let json = try r.json()
                #expect(json["format"] as? String == "xlsx")
                #expect(json["title"] as? String == "Fixture Workbook")
                #expect((json["markdown"] as? String)?.contains("| Widget | 9.5 | 2024-03-15 |") == true)
            }
            // The type from Content-Type alone; a document without a title has "title": null.
            var html = auth(seeded.adminKey)
            html[.contentType] = "text/html; charset=utf-8"
            try await client.execute(uri: "/v1/convert", method: .post, headers: html, body: ByteBuffer(string: "<p>Hi <b>there</b></p>")) { r in
                #expect(r.status == .ok)
                let json = try r.json()
                #expect(json["format"] as? String == "html" && json["markdown"] as? String == "Hi **there**\n")
                #expect(json.keys.contains("title") && json["title"] is NSNull)
            }
            let refusals: [(String, HTTPFields, [UInt8], HTTPResponse.Status, String)] = [
                ("/v1/convert", headers, [0, 1, 2, 3], .unsupportedMediaType, "unsupported_format"),
                ("/v1/convert?filename=old.doc", headers, [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1], .unsupportedMediaType, "unsupported_format"),
                ("/v1/convert?filename=cut.xlsx", headers, Array(xlsx.prefix(1000)), .unprocessableContent, "unreadable_document"),
                ("/v1/convert?filename=deep.json", headers, Array(String(repeating: "[", count: 10_000).utf8), .unprocessableContent, "unreadable_document"),
                ("/v1/convert?filename=a.pdf", headers, [], .badRequest, "empty_body"),
                ("/v1/convert?file=a.pdf", headers, [1], .badRequest, "unknown_parameter"),
                ("/v1/convert", [:], [1], .unauthorized, "missing_api_key"),
            ]
            for (uri, fields, body, status, code) in refusals {
                try await client.execute(uri: uri, method: .post, headers: fields, body: ByteBuffer(bytes: body)) { r in
                    #expect(r.status == status && r.errorCode == code, "\(uri): \(r.status) \(r.errorCode)")
                }
            }
        }
    }

    @Test func theCommandPrintsMarkdownOrTheReasonAndExitsNonZero() async throws {
        let binary = ParleyProcess.binary.path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw TestFailure("\(binary) not built: run 'swift build'") }
        let fixture = TestEnv.packageRoot.appendingPathComponent("Tests/Fixtures/convert/sample.pptx").path
        let ok = try await runCommand(binary, ["convert", fixture])
        #expect(ok.status == 0)
        #expect(ok.output.contains("## Slide 3: Numbers\n\n| Quarter | Revenue |"), "\(ok.output)")
        let json = try await runCommand(binary, ["convert", "--json", "-"], input: Data("{\"a\": 1}".utf8))
        #expect(json.status == 0 && json.output.contains(#""format":"json""#) && json.output.contains(#""markdown":"- **a**: 1\n""#), "\(json.output)")
        let forced = try await runCommand(binary, ["convert", "--format", "csv", "-"], input: Data("a,b\n1,2\n".utf8))
        #expect(forced.status == 0 && forced.output == "| a | b |\n| --- | --- |\n| 1 | 2 |\n", "\(forced.output)")
        let bad = try await runCommand(binary, ["convert", "-"], input: Data([0, 1, 2]))
        #expect(bad.status == 1 && bad.output.contains("not recognised"), "\(bad.output)")
        let missing = try await runCommand(binary, ["convert", "/nonexistent/file.pdf"])
        #expect(missing.status == 1 && missing.output.contains("no such file"), "\(missing.output)")
    }
}
