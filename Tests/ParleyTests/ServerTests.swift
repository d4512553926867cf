import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ParleyApp
import ParleyCore
import ParleyHTTP
import ParleyPackKit
import ParleyPlatform
import ParleyServer
import ParleyStorage
import Testing

/// Runs `body` against the real router on a fresh migrated database with a seeded tenant.
func withServer(_ kind: DatabaseKind, env: [String: String] = [:], migrated: Bool = true,
                _ body: @escaping @Sendable (any TestClientProtocol, Seeded?, any Store, TestClock) async throws -> Void) async throws {
    let clock = TestClock()
    try await TestDatabases.withStore(kind, migrated: migrated, clock: clock) { store in
        let seeded = migrated ? try await Seeded.make(store, clock: clock) : nil
        let config = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_MAX_BODY_BYTES": "4kb"].merging(env) { $1 }))
        var logger = Logger(label: "test")
        logger.logLevel = .warning  // access lines of hundreds of requests would drown the test report
        let deps = ServerDependencies(config: config, store: store, clock: clock, logger: logger, migrations: ParleySchema.migrations, keyring: .random(), packs: ParleySchema.packs)
        try await buildApplication(deps).test(.router) { client in
            try await body(client, seeded, store, clock)
        }
    }
}

struct APIError: Decodable { struct Detail: Decodable { var code: String; var message: String; var request_id: String }; var error: Detail }

extension TestResponse {
    func json() throws -> [String: Any] {
        let data = Data(buffer: body)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
    /// The error envelope's code, or a marker when the body is not one.
    var errorCode: String { (try? apiError().code) ?? "<not an error envelope>" }
    func apiError() throws -> APIError.Detail {
        try JSONDecoder().decode(APIError.self, from: Data(buffer: body)).error
    }
}

func auth(_ key: String, json: Bool = false) -> HTTPFields {
    var h: HTTPFields = [.authorization: "Bearer \(key)"]
    if json { h[.contentType] = "application/json" }
    return h
}

@Suite struct OperationalEndpointTests {
    @Test func healthStatusRootAndReady() async throws {
        try await withServer(.sqlite) { client, _, _, _ in
            try await client.execute(uri: "/health", method: .get) { r in
                #expect(r.status == .ok)
                let j = try r.json() as NSDictionary
                #expect(j == ["status": "ok"])
            }
            try await client.execute(uri: "/status", method: .get) { r in
                let j = try r.json() as NSDictionary
                #expect(j["status"] as? String == "running" && j["service"] as? String == "parley" && j["version"] as? String == ParleyVersion.current)
                // The installed packs' own lines (the support pack says how it searches).
                let support = (j["packs"] as? NSDictionary)?["support"] as? NSDictionary
                #expect(support?["search"] as? String == "bm25 only: no embedder is configured, so hybrid search runs as BM25 alone")
                #expect((support?["bm25"] as? String)?.hasPrefix("in-memory index for 0 tenant(s)") == true, "\(j)")
                #expect(Set(j.allKeys.compactMap { $0 as? String }) == ["status", "service", "version", "packs"])
            }
            try await client.execute(uri: "/", method: .get) { r in
                let j = try r.json() as NSDictionary
                #expect(j == ["status": "operational", "database": "connected"])
            }
            try await client.execute(uri: "/ready", method: .get) { r in
                #expect(r.status == .ok)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func notReadyWhileMigrationsArePending(_ kind: DatabaseKind) async throws {
        try await withServer(kind, migrated: false) { client, _, _, _ in
            try await client.execute(uri: "/ready", method: .get) { r in
                #expect(r.status == .serviceUnavailable)
                let j = try r.json()
                #expect((j["reason"] as? String)?.contains("migrations pending") == true)
            }
        }
    }

    @Test func requestIDIsKeptOrGeneratedAndAppearsInErrors() async throws {
        try await withServer(.sqlite) { client, _, _, _ in
            try await client.execute(uri: "/health", method: .get, headers: [HTTPField.Name("X-Request-ID")!: "abc-123"]) { r in
                #expect(r.headers[HTTPField.Name("X-Request-ID")!] == "abc-123")
            }
            try await client.execute(uri: "/health", method: .get, headers: [HTTPField.Name("X-Request-ID")!: "has spaces in it"]) { r in
                let id = try #require(r.headers[HTTPField.Name("X-Request-ID")!])
                #expect(UUIDv7.isValid(id))
            }
            try await client.execute(uri: "/v1/tenant", method: .get) { r in
                let id = try #require(r.headers[HTTPField.Name("X-Request-ID")!])
                #expect(try r.apiError().request_id == id)
            }
        }
    }

    @Test func metricsAreValidPrometheusText() async throws {
        try await withServer(.sqlite) { client, seeded, _, _ in
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(seeded!.adminKey)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/nowhere", method: .get) { #expect($0.status == .notFound) }
            let text = try await client.execute(uri: "/metrics", method: .get) { r in
                #expect(r.headers[.contentType]?.hasPrefix("text/plain") == true)
                return String(buffer: r.body)
            }
            #expect(text.contains(#"parley_http_requests_total{method="GET",route="/v1/tenant",status="200"} 1"#))
            #expect(text.contains("parley_http_request_duration_seconds_bucket"))
            #expect(text.contains("process_resident_memory_bytes"))
            #expect(text.contains(#"parley_db_pool_connections_max{database="sqlite"}"#))
            try await Promtool.check(text)
        }
    }

    @Test func theOpenAPIDocumentIsServedAndMatchesTheDocs() async throws {
        let docs = try String(contentsOf: TestEnv.packageRoot.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        try await withServer(.sqlite) { client, _, _, _ in
            try await client.execute(uri: "/openapi.yaml", method: .get) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body) + "\n" == docs, "run scripts/sync-openapi after editing docs/openapi.yaml")
            }
        }
        // Every route the server registers is documented.
        let table = RouteTable()
        let clock = TestClock()
        try await TestDatabases.withStore(.sqlite, clock: clock) { store in
            let config = try ParleyConfig.load(ConfigSources())
            _ = try buildRouter(ServerDependencies(config: config, store: store, clock: clock, logger: Logger(label: "t"), migrations: [], keyring: .random(), packs: ParleySchema.packs), routes: table)
        }
        var registered: Set<String> = []
        for route in table.all {
            let path = route.path.split(separator: "/").map { seg -> String in seg.hasPrefix(":") ? "{" + seg.dropFirst() + "}" : String(seg) }.joined(separator: "/")
            registered.insert("/" + path)
            #expect(docs.contains("\n  /\(path):") || (path.isEmpty && docs.contains("\n  /:")), "\(route.method) \(route.path) is not in docs/openapi.yaml")
        }
        // And every documented path is served.
        for line in docs.split(separator: "\n") where line.hasPrefix("  /") && line.hasSuffix(":") {
            let path = String(line.dropFirst(2).dropLast())
            #expect(registered.contains(path), "\(path) is documented in docs/openapi.yaml but no route serves it")
        }
    }
}

@Suite struct APIKeyRouteTests {
    @Test(arguments: TestEnv.kinds)
    func createListUseAndRevokeAKey(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, _, _ in
            let admin = seeded!.adminKey
            let created = try await client.execute(uri: "/v1/api-keys", method: .post, headers: auth(admin, json: true),
                                                   body: ByteBuffer(string: #"{"name":"ops bot","role":"operator","expires_at":"2099-01-01T00:00:00Z"}"#)) { r in
                #expect(r.status == .created)
                return try r.json()
            }
            let secret = try #require(created["secret"] as? String)
            let id = try #require(created["id"] as? String)
            #expect(created["role"] as? String == "operator")
            #expect(created["expires_at"] as? String == "2099-01-01T00:00:00.000Z")
            #expect(created["key_hash"] == nil && created["hash"] == nil)

            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(secret)) { r in
                #expect(r.status == .ok)
                let j = try r.json()
                #expect(j["slug"] as? String == "acme")
            }
            try await client.execute(uri: "/v1/api-keys", method: .get, headers: auth(admin)) { r in
                let json = try r.json()
                // The list envelope is the same everywhere: next_cursor present, null on the last page.
                #expect(json["next_cursor"] is NSNull)
                let data = try #require(json["data"] as? [[String: Any]])
                #expect(data.count == 2)
                #expect(data.allSatisfy { $0["secret"] == nil && $0["hash"] == nil })
            }
            try await client.execute(uri: "/v1/api-keys/\(id)", method: .delete, headers: auth(admin)) { r in
                #expect(r.status == .ok)
                let j = try r.json()
                #expect(j["revoked_at"] != nil)
            }
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(secret)) { r in
                #expect(r.status == .unauthorized)
                #expect(r.errorCode == "api_key_revoked")
                #expect(r.headers[.wwwAuthenticate] == "Bearer")
            }
            try await client.execute(uri: "/v1/api-keys/\(id)", method: .delete, headers: auth(admin)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/api-keys/not-a-key", method: .delete, headers: auth(admin)) { r in
                #expect(r.status == .notFound)
                #expect(r.errorCode == "api_key_not_found")
            }
            try await client.execute(uri: "/v1/audit-log?limit=2", method: .get, headers: auth(admin)) { r in
                let json = try r.json()
                let entries = try #require(json["data"] as? [[String: Any]])
                #expect(entries.map { $0["action"] as? String } == ["api_key.revoke", "api_key.create"])
                #expect(json["next_cursor"] as? String == entries.last?["id"] as? String)
            }
            try await client.execute(uri: "/v1/audit-log?limit=500", method: .get, headers: auth(admin)) { r in
                let json = try r.json()
                #expect((json["data"] as? [Any])?.isEmpty == false)
                #expect(json["next_cursor"] is NSNull)
            }
        }
    }

    @Test func missingMalformedExpiredAndForeignKeysGet401() async throws {
        try await withServer(.sqlite) { client, seeded, store, clock in
            try await client.execute(uri: "/v1/tenant", method: .get) { r in
                #expect(r.status == .unauthorized && r.errorCode == "missing_api_key")
            }
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.authorization: "Basic abc"]) { r in
                #expect(r.status == .unauthorized && r.errorCode == "invalid_authorization")
            }
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(APIKeySecret.generate())) { r in
                #expect(r.status == .unauthorized && r.errorCode == "invalid_api_key")
            }
            let expiring = try await seeded!.key(store, clock: clock, role: .viewer, expiresAt: clock.now().addingTimeInterval(60))
            clock.advance(by: 61)
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(expiring.secret!)) { r in
                #expect(r.status == .unauthorized && r.errorCode == "api_key_expired")
            }
            // A key of another tenant sees only its own tenant and cannot revoke the first tenant's keys.
            let other = try await Seeded.make(store, clock: clock, slug: "other")
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(other.adminKey)) { r in
                let j = try r.json()
                #expect(j["slug"] as? String == "other")
            }
            let firstKeyID = try await APIKeyService(store: store, clock: clock).authenticate(seeded!.adminKey).keyID!
            try await client.execute(uri: "/v1/api-keys/\(firstKeyID)", method: .delete, headers: auth(other.adminKey)) { r in
                #expect(r.status == .notFound)
            }
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(seeded!.adminKey)) { #expect($0.status == .ok) }
        }
    }

    @Test func rolesThatMayNotManageKeysGet403() async throws {
        try await withServer(.sqlite) { client, seeded, store, clock in
            for role in [Role.viewer, .operator, .service] {
                let key = try await seeded!.key(store, clock: clock, role: role).secret!
                try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(key)) { #expect($0.status == .ok) }
                try await client.execute(uri: "/v1/api-keys", method: .get, headers: auth(key)) { r in
                    #expect(r.status == .forbidden && r.errorCode == "forbidden")
                }
                try await client.execute(uri: "/v1/api-keys", method: .post, headers: auth(key, json: true), body: ByteBuffer(string: #"{"name":"x","role":"admin"}"#)) { r in
                    #expect(r.status == .forbidden)
                }
                try await client.execute(uri: "/v1/audit-log", method: .get, headers: auth(key)) { #expect($0.status == .forbidden) }
            }
        }
    }
}

@Suite struct BadInputTests {
    @Test(arguments: [
        ("", "invalid_json"), ("{", "invalid_json"), ("[]", "invalid_json"), (#"{"role":"admin"}"#, "invalid_json"),
        (#"{"name":5,"role":"admin"}"#, "invalid_json"), (#"{"name":"x","role":"root"}"#, "invalid_role"),
        (#"{"name":"","role":"admin"}"#, "invalid_name"), (#"{"name":"x","role":"admin","expires_at":"tomorrow"}"#, "invalid_json"),
        (#"{"name":"x","role":"admin","expires_at":"2001-01-01T00:00:00Z"}"#, "invalid_expires_at"),
        ("\u{0}\u{1}binary", "invalid_json"),
    ])
    func malformedBodiesGet400WithACode(_ body: String, _ code: String) async throws {
        try await withServer(.sqlite) { client, seeded, _, _ in
            try await client.execute(uri: "/v1/api-keys", method: .post, headers: auth(seeded!.adminKey, json: true), body: ByteBuffer(string: body)) { r in
                #expect(r.status == .badRequest)
                let e = try r.apiError()
                #expect(e.code == code)
                #expect(!e.message.isEmpty)
            }
        }
    }

    @Test func wrongContentTypeOversizedBodiesUnknownRoutesAndMethods() async throws {
        try await withServer(.sqlite) { client, seeded, _, _ in
            let key = seeded!.adminKey
            try await client.execute(uri: "/v1/api-keys", method: .post, headers: auth(key).merging([.contentType: "text/plain"]),
                                     body: ByteBuffer(string: #"{"name":"x","role":"admin"}"#)) { r in
                #expect(r.status == .unsupportedMediaType && r.errorCode == "unsupported_media_type")
            }
            let big = #"{"name":""# + String(repeating: "x", count: 8000) + #"","role":"admin"}"#
            try await client.execute(uri: "/v1/api-keys", method: .post, headers: auth(key, json: true), body: ByteBuffer(string: big)) { r in
                #expect(r.status == .contentTooLarge && r.errorCode == "payload_too_large")
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get, headers: auth(key)) { r in
                #expect(r.status == .notFound && r.errorCode == "route_not_found")
            }
            try await client.execute(uri: "/health", method: .post) { r in
                #expect(r.status == .methodNotAllowed && r.errorCode == "method_not_allowed")
                #expect(r.headers[.allow] == "GET")
            }
            try await client.execute(uri: "/v1/api-keys", method: .put, headers: auth(key)) { r in
                #expect(r.status == .methodNotAllowed)
                #expect(r.headers[.allow] == "GET, POST")
            }
            try await client.execute(uri: "/v1/audit-log?limit=abc", method: .get, headers: auth(key)) { r in
                #expect(r.status == .badRequest && r.errorCode == "invalid_query")
            }
            try await client.execute(uri: "/v1/audit-log?limit=100000", method: .get, headers: auth(key)) { #expect($0.status == .badRequest) }
        }
    }

    /// `Allow` lists what the router serves at the path: a literal segment wins over a parameter,
    /// as in the router, so `/v1/cases/pending-reminders` does not offer `/v1/cases/{case_id}`'s PATCH.
    @Test func allowListsOnlyTheMethodsOfTheRouteThatServesThePath() {
        let table = RouteTable()
        table.add("/v1/cases/pending-reminders", .get)
        table.add("/v1/cases/:case_id", .get)
        table.add("/v1/cases/:case_id", .patch)
        table.add("/v1/cases/:case_id/close", .post)
        table.add("/v1/cases/documents/:requested_doc_id", .put)
        #expect(table.allowedMethods(for: "/v1/cases/pending-reminders") == ["GET"])
        #expect(table.allowedMethods(for: "/v1/cases/42") == ["GET", "PATCH"])
        #expect(table.allowedMethods(for: "/v1/cases/documents/7") == ["PUT"])
        #expect(table.allowedMethods(for: "/v1/cases/42/close") == ["POST"])
        #expect(table.allowedMethods(for: "/v1/nothing").isEmpty)
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var out = self
        for f in other { out[f.name] = f.value }
        return out
    }
}

/// Runs Debian's `promtool check metrics` when it is installed (CI installs it).
enum Promtool {
    static func check(_ text: String) async throws {
        let path = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else {
            if ProcessInfo.processInfo.environment["CI"] != nil { throw TestFailure("promtool is not installed on CI") }
            return
        }
        let (status, output) = try await runCommand(path, ["check", "metrics"], input: Data(text.utf8))
        #expect(status == 0, "promtool: \(output)")
    }
}
