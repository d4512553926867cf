import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ParleyApp
import ParleyCore
import ParleyHTTP
import ParleyServer
import ParleyStorage
import Testing

/// The unknown-field finder on its own: what a body's type reads, and what it would have meant.
@Suite struct UnknownFieldsTests {
    struct Item: Decodable { var name: String; var qty: Int? }
    enum Color: String, Decodable { case red, blue }
    struct Body: Decodable {
        var channel: String
        var to: String?
        var text: String?
        var sendAt: Date?
        var color: Color?
        var items: [Item]?
        var variables: [String: String]?
        var nested: Item?
        enum CodingKeys: String, CodingKey { case channel, to, text, sendAt = "send_at", color, items, variables, nested }
    }

    func unknown(_ json: String) -> [String] {
        UnknownFields.find(Body.self, in: Data(json.utf8)).map { "\($0.location)→\($0.suggestion ?? "-")" }
    }

    @Test func knownFieldsPassAndFreeFormObjectsTakeAnyKey() {
        #expect(unknown(#"{"channel":"sms","to":"x","send_at":"2026-01-01T00:00:00Z","color":"red"}"#).isEmpty)
        #expect(unknown(#"{"channel":"sms","variables":{"anything":"goes","here":"too"}}"#).isEmpty)
        #expect(unknown(#"{"channel":"sms","nested":null,"to":null,"items":[]}"#).isEmpty)
    }

    @Test func unknownFieldsAreNamedWithTheirPathAndTheIntendedName() {
        #expect(unknown(#"{"channel":"sms","recipient":"x","body":"hi"}"#) == ["body→text", "recipient→to"])
        #expect(unknown(#"{"channel":"sms","sendAt":"2026-01-01T00:00:00Z"}"#) == ["sendAt→send_at"])
        #expect(unknown(#"{"channel":"sms","colour":"red"}"#) == ["colour→color"])
        #expect(unknown(#"{"channel":"sms","items":[{"name":"a"},{"name":"b","qtty":2}]}"#) == ["items[1].qtty→qty"])
        #expect(unknown(#"{"channel":"sms","nested":{"name":"a","flavour":"x"}}"#) == ["nested.flavour→-"])
    }

    @Test func aMissingRequiredFieldFindsTheNameSentInstead() {
        let sent = UnknownFields.sentInstead(of: "channel", at: [], in: Data(#"{"chanel":"sms"}"#.utf8))
        #expect(sent == .init(name: "chanel", path: "", suggestion: "channel"))
        let nested = UnknownFields.sentInstead(of: "name", at: ["items", "1"], in: Data(#"{"items":[{"name":"a"},{"nmae":"b"}]}"#.utf8))
        #expect(nested?.location == "items[1].nmae")
        #expect(UnknownFields.sentInstead(of: "channel", at: [], in: Data(#"{"other":"sms"}"#.utf8)) == nil)
    }

    @Test func malformedBodiesAreLeftToTheDecoder() {
        #expect(unknown("[1,2]").isEmpty)
        #expect(unknown("{").isEmpty)
        #expect(unknown(#"{"to":"x"}"#).isEmpty)  // channel missing: the decoder's own error says so
    }
}

/// Every JSON body under /v1 refuses fields its route does not read, by name.
@Suite struct StrictBodyRouteTests {
    @Test(arguments: TestEnv.kinds)
    func unknownBodyFieldsAreRefusedByNameWithTheIntendedName(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, _, _ in
            let admin = try #require(seeded).adminKey
            let zoneBefore = try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(admin)) { r in try r.json()["time_zone"] as? String }
            let cases: [(String, HTTPRequest.Method, String, String)] = [
                ("/v1/messages", .post, #"{"channel":"sms","recipient":"+14155550100","text":"hi"}"#, "unknown field 'recipient'; did you mean 'to'?"),
                ("/v1/messages", .post, #"{"channel":"sms","to":"+14155550100","body":"hi"}"#, "unknown field 'body'; did you mean 'text'?"),
                ("/v1/messages", .post, #"{"chanel":"sms","to":"+14155550100","text":"hi"}"#, "unknown field 'chanel'; did you mean 'channel'?"),
                ("/v1/api-keys", .post, #"{"name":"bot","role":"viewer","expires":"2099-01-01T00:00:00Z"}"#, "unknown field 'expires'; did you mean 'expires_at'?"),
                ("/v1/sessions", .post, #"{"title":"x","colour":"red"}"#, "unknown field 'colour'"),
                // Bodies read field by field (a JSONValue) are held to their fields too.
                ("/v1/cases", .post, #"{"client_nme":"Ann Lee","client_email":"ann@example.com","requested_documents":["W2"]}"#,
                 "unknown field 'client_nme'; did you mean 'client_name'?"),
                ("/v1/send-email", .post, #"{"case_id":"x","recipient_email":"a@example.com","email_type":"initial_reminder","to":"b@example.com"}"#,
                 "unknown field 'to'"),
                ("/v1/tenant", .patch, #"{"timezone":"Asia/Tokyo"}"#, "unknown field 'timezone'; did you mean 'time_zone'?"),
            ]
            for (uri, method, body, message) in cases {
                try await client.execute(uri: uri, method: method, headers: auth(admin, json: true), body: ByteBuffer(string: body)) { r in
                    #expect(r.status == .badRequest, "\(uri) \(body)")
                    #expect(r.errorCode == "unknown_field", "\(uri) \(body)")
                    #expect((try? r.apiError().message.hasPrefix(message)) == true, "\(uri) \(body): \((try? r.apiError().message) ?? "")")
                }
            }
            // Nothing was sent, created or changed by the refused requests.
            try await client.execute(uri: "/v1/cases", method: .get, headers: auth(admin)) { r in
                let listed = try r.json()["data"] as? [Any]
                #expect(listed?.isEmpty == true)
            }
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(admin)) { r in
                let zone = try r.json()["time_zone"] as? String
                #expect(zone == zoneBefore)
            }
            try await client.execute(uri: "/v1/outbox", method: .get, headers: auth(admin)) { r in
                #expect(r.status == .ok)
                let listed = try r.json()["data"] as? [Any]
                #expect(listed?.isEmpty == true)
            }
            // The same body with the documented names is accepted.
            try await client.execute(uri: "/v1/messages", method: .post, headers: auth(admin, json: true),
                                     body: ByteBuffer(string: #"{"channel":"sms","to":"+14155550100","text":"hi"}"#)) { r in
                #expect(r.status == .accepted)
            }
        }
    }
}

/// Every query parameter under /v1 is one its route reads; the others are refused by name.
@Suite struct StrictQueryTests {
    @Test(arguments: TestEnv.kinds)
    func unknownQueryParametersAreRefusedByNameWithTheIntendedName(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, _, _ in
            let admin = try #require(seeded).adminKey
            let cases: [(String, String)] = [
                ("/v1/audit-log?cursor=abc", "unknown query parameter 'cursor'; did you mean 'before'?"),
                ("/v1/jobs?limt=5", "unknown query parameter 'limt'; did you mean 'limit'?"),
                ("/v1/outbox?page_size=5", "unknown query parameter 'page_size'; did you mean 'limit'?"),
                ("/v1/workflows?state=RUNNING", "unknown query parameter 'state'; did you mean 'status'?"),
                ("/v1/tenant?verbose=1", "unknown query parameter 'verbose'; this route takes no query parameters"),
                ("/v1/sessions?x=1", "unknown query parameter 'x'; this route takes 'before', 'limit'"),
                // The same names on every list; a list read in order takes `after`, and the other cursor points to it.
                ("/v1/consent?cursor=abc", "unknown query parameter 'cursor'; did you mean 'after'?"),
                ("/v1/consent?before=abc", "unknown query parameter 'before'; did you mean 'after'?"),
                ("/v1/audit-log?after=abc", "unknown query parameter 'after'; did you mean 'before'?"),
                ("/v1/outbox?offset=50", "unknown query parameter 'offset'; did you mean 'before'?"),
            ]
            for (uri, message) in cases {
                try await client.execute(uri: uri, method: .get, headers: auth(admin)) { r in
                    #expect(r.status == .badRequest, "\(uri)")
                    #expect(r.errorCode == "unknown_parameter", "\(uri)")
                    #expect((try? r.apiError().message) == message, "\(uri)")
                }
            }
            // A mutating route refuses an unknown parameter before it changes anything.
            try await client.execute(uri: "/v1/messages?dry_run=true", method: .post, headers: auth(admin, json: true),
                                     body: ByteBuffer(string: #"{"channel":"sms","to":"+14155550100","text":"hi"}"#)) { r in
                #expect(r.errorCode == "unknown_parameter")
            }
            try await client.execute(uri: "/v1/outbox", method: .get, headers: auth(admin)) { r in
                let listed = try r.json()["data"] as? [Any]
                #expect(listed?.isEmpty == true)
            }
            // Documented parameters still work, and a caller without a key learns nothing about them.
            try await client.execute(uri: "/v1/audit-log?limit=2&before=01a23b2f-0000-7000-8000-000000000000", method: .get, headers: auth(admin)) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/v1/audit-log?cursor=abc", method: .get) { r in
                #expect(r.status == .unauthorized)
            }
        }
    }

    /// The query parameters each route reads are exactly the ones the API description lists for it.
    @Test func theQueryParametersEachRouteReadsAreDocumented() async throws {
        let docs = try String(contentsOf: TestEnv.packageRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let documented = OpenAPIQueryParameters(yaml: docs)
        let table = RouteTable()
        let clock = TestClock()
        try await TestDatabases.withStore(.sqlite, clock: clock) { store in
            let config = try ParleyConfig.load(ConfigSources())
            _ = try buildRouter(ServerDependencies(config: config, store: store, clock: clock, logger: Logger(label: "t"), migrations: [],
                                                   keyring: .random(), packs: ParleySchema.packs), routes: table)
        }
        let read = table.queryParameters
        #expect(!read.isEmpty)
        for route in table.all where route.path.hasPrefix("/v1/") {
            let key = "\(route.method) \(route.path)"
            let path = route.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            let listed = documented.names(path: "/" + path, method: route.method.lowercased())
            #expect(Set(read[key] ?? []) == listed, "\(key): the server reads \((read[key] ?? []).sorted()), docs/openapi.yaml lists \(listed.sorted())")
        }
    }
}

/// The `in: query` parameters of each operation in the API description (inline or by `$ref`).
struct OpenAPIQueryParameters {
    private var operations: [String: Set<String>] = [:]

    init(yaml: String) {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func indent(_ l: String) -> Int { l.prefix { $0 == " " }.count }
        // Shared parameters: components.parameters.<Name> → (name, in).
        var shared: [String: (String, String)] = [:]
        if let start = lines.firstIndex(of: "  parameters:"), lines[..<start].contains("components:") {
            var current: String?
            var name = "", place = ""
            for l in lines[(start + 1)...] {
                if indent(l) <= 2, !l.trimmingCharacters(in: .whitespaces).isEmpty { break }
                if indent(l) == 4, l.hasSuffix(":") {
                    if let c = current { shared[c] = (name, place) }
                    current = l.trimmingCharacters(in: .whitespaces).dropLast().description
                    name = ""; place = ""
                } else if indent(l) == 6, l.hasPrefix("      name: ") {
                    name = String(l.dropFirst(12))
                } else if indent(l) == 6, l.hasPrefix("      in: ") {
                    place = String(l.dropFirst(10))
                }
            }
            if let c = current { shared[c] = (name, place) }
        }
        var path: String?, method: String?
        var pathLevel: Set<String> = []
        var pending: (name: String, place: String)?
        func flush() {
            if let p = pending, p.place == "query", let path {
                if let method { operations["\(method) \(path)", default: pathLevel].insert(p.name) } else { pathLevel.insert(p.name) }
            }
            pending = nil
        }
        for l in lines {
            let t = l.trimmingCharacters(in: .whitespaces)
            if indent(l) == 0, !t.isEmpty, t != "paths:" { flush(); path = nil; method = nil; continue }
            if indent(l) == 2, l.hasPrefix("  /"), t.hasSuffix(":") { flush(); path = String(t.dropLast()); method = nil; pathLevel = []; continue }
            guard let currentPath = path else { continue }
            if indent(l) == 4, ["get:", "post:", "put:", "patch:", "delete:"].contains(t) {
                flush()
                method = String(t.dropLast())
                operations["\(t.dropLast()) \(currentPath)"] = pathLevel
                continue
            }
            if t.hasPrefix("- name: ") { flush(); pending = (String(t.dropFirst(8)), "") }
            else if t.hasPrefix("in: "), pending != nil { pending?.place = String(t.dropFirst(4)) }
            else if t.hasPrefix("- $ref: '#/components/parameters/") {
                flush()
                let ref = String(t.dropFirst("- $ref: '#/components/parameters/".count).dropLast())
                if let (name, place) = shared[ref] { pending = (name, place) }
                flush()
            }
        }
        flush()
    }

    func names(path: String, method: String) -> Set<String> { operations["\(method) \(path)"] ?? [] }
}
