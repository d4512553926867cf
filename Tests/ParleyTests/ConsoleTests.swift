import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ParleyCore
import ParleyHTTP
import ParleyPlatform
import ParleyServer
import ParleyStorage
import Testing

extension HTTPField.Name {
    static let csrf = Self("X-CSRF-Token")!
}

/// The cookie a sign-in response set, as a request header value.
private func sessionCookie(_ r: TestResponse) throws -> String {
    let set = try #require(r.headers[.setCookie])
    return try #require(set.split(separator: ";").first.map(String.init))
}

private func jsonBody(_ object: [String: Any]) -> ByteBuffer {
    ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: object)) ?? Data())
}

private let jsonType: HTTPFields = [.contentType: "application/json"]

/// Signs in with `key`; returns the cookie header value and the CSRF token.
private func signIn(_ client: some TestClientProtocol, key: String) async throws -> (cookie: String, csrf: String) {
    try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody(["api_key": key])) { r in
        #expect(r.status == .ok)
        return (try sessionCookie(r), try #require(try r.json()["csrf_token"] as? String))
    }
}

@Suite struct ConsoleAssetTests {
    @Test func everyConsoleFileIsServedByteForByteWithItsETag() async throws {
        let dir = TestEnv.packageRoot.appendingPathComponent("Console")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
        #expect(names.contains("index.html") && names.contains("app.js") && names.contains("app.css"))
        try await withServer(.sqlite) { client, _, _, _ in
            for name in names {
                let file = try Data(contentsOf: dir.appendingPathComponent(name))
                let etag = "\"" + String(SHA256.hash(data: file).map { String(format: "%02x", $0) }.joined().prefix(20)) + "\""
                try await client.execute(uri: "/console/\(name)", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(Data(buffer: r.body) == file, "Console/\(name) changed: run scripts/sync-console")
                    #expect(r.headers[.eTag] == etag, "Console/\(name) changed: run scripts/sync-console")
                    #expect(r.headers[.cacheControl] == "no-cache")
                    #expect(r.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                }
            }
            try await client.execute(uri: "/console/app.js", method: .get) { r in
                #expect(r.headers[.contentType] == "text/javascript; charset=utf-8")
                let etag = try #require(r.headers[.eTag])
                try await client.execute(uri: "/console/app.js", method: .get, headers: [.ifNoneMatch: etag]) { r in
                    #expect(r.status == .notModified)
                    #expect(r.body.readableBytes == 0)
                }
            }
            try await client.execute(uri: "/console/nothing.js", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/console/..%2Fpassword", method: .get) { #expect($0.status == .notFound) }
        }
        // Every file the generated source holds is in Console/ (a deleted file leaves no stale copy).
        let generated = try String(contentsOf: TestEnv.packageRoot.appendingPathComponent("Sources/ParleyServer/ConsoleAssets.swift"), encoding: .utf8)
        let served = generated.split(separator: "\n").filter { $0.hasPrefix("        \"") }.map { $0.dropFirst(9).prefix { $0 != "\"" } }.map(String.init)
        #expect(served.sorted() == names, "run scripts/sync-console")
    }

    @Test func browsersGetTheConsoleAtTheRootWithSecurityHeadersAndOthersGetHealth() async throws {
        try await withServer(.sqlite) { client, _, _, _ in
            try await client.execute(uri: "/", method: .get, headers: [.accept: "text/html,application/xhtml+xml,*/*;q=0.8"]) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType] == "text/html; charset=utf-8")
                let csp = try #require(r.headers[.contentSecurityPolicy])
                #expect(csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"))
                #expect(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"))
                #expect(r.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
                #expect(r.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
                #expect(r.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                let html = String(buffer: r.body)
                #expect(html.contains("<script type=\"module\" src=\"/console/app.js\"></script>"))
                // No inline script: every <script> has a src.
                #expect(html.components(separatedBy: "<script").count == html.components(separatedBy: "<script type=\"module\" src=").count)
            }
            for accept in [nil, "application/json", "*/*"] {
                var headers: HTTPFields = [:]
                if let accept { headers[.accept] = accept }
                try await client.execute(uri: "/", method: .get, headers: headers) { r in
                    let j = try r.json() as NSDictionary
                    #expect(j == ["status": "operational", "database": "connected"])
                }
            }
        }
    }
}

@Suite struct ConsoleSessionTests {
    @Test(arguments: TestEnv.kinds)
    func signInWithAKeyGivesACookieSessionThatActsAsTheKey(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, store, _ in
            let seeded = try #require(seeded)
            let (cookie, csrf) = try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType,
                                                          body: jsonBody(["api_key": seeded.adminKey])) { r in
                #expect(r.status == .ok)
                let set = try #require(r.headers[.setCookie])
                #expect(set.hasPrefix("parley_session="))
                for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] { #expect(set.contains(attribute)) }
                #expect(!set.contains("Secure"))
                let j = try r.json()
                let tenant = try #require(j["tenant"] as? [String: Any])
                #expect(tenant["name"] as? String == seeded.tenant.name)
                #expect(tenant["slug"] as? String == "acme")
                #expect(tenant["time_zone"] as? String == "Europe/Paris")
                #expect(j["role"] as? String == "admin")
                #expect(j["key_name"] as? String == "admin")
                #expect((j["expires_at"] as? String).flatMap(JSONCoding.parse) != nil)
                return (try sessionCookie(r), try #require(j["csrf_token"] as? String))
            }
            // Only the hash is stored.
            let secret = String(cookie.dropFirst("parley_session=".count))
            let stored = try await store.read { db in try await db.raw("SELECT session_hash FROM console_sessions").all() }
            #expect(stored.count == 1)
            #expect(try stored[0].decode(column: "session_hash", as: String.self) == APIKeySecret.hash(secret))

            try await client.execute(uri: "/v1/auth/session", method: .get, headers: [.cookie: cookie]) { r in
                #expect(r.status == .ok)
                let j = try r.json()
                #expect(j["csrf_token"] as? String == csrf)
            }
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: "theme=dark; \(cookie)"]) { r in
                #expect(r.status == .ok)
                let j = try r.json()
                #expect(j["id"] as? String == seeded.tenant.id)
            }
            // Changes need the CSRF token; reads do not.
            try await client.execute(uri: "/v1/sessions", method: .post, headers: [.cookie: cookie]) { r in
                #expect(r.status == .forbidden)
                #expect(r.errorCode == "csrf_failed")
            }
            try await client.execute(uri: "/v1/sessions", method: .post, headers: [.cookie: cookie, .csrf: String(csrf.reversed())]) { r in
                #expect(r.errorCode == "csrf_failed")
            }
            try await client.execute(uri: "/v1/sessions", method: .post, headers: [.cookie: cookie, .csrf: csrf]) { #expect($0.status == .created) }
            // Bearer requests are unaffected.
            try await client.execute(uri: "/v1/sessions", method: .post, headers: auth(seeded.adminKey)) { #expect($0.status == .created) }
            // Sign-in is audited as the key.
            try await client.execute(uri: "/v1/audit-log?action=console.sign_in", method: .get, headers: auth(seeded.adminKey)) { r in
                let rows = try #require(try r.json()["data"] as? [[String: Any]])
                #expect(rows.count == 1)
                #expect((rows.first?["actor"] as? String)?.hasPrefix("api_key:") == true)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func signOutNeedsTheTokenDeletesTheSessionAndClearsTheCookie(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, store, _ in
            let seeded = try #require(seeded)
            let (cookie, csrf) = try await signIn(client, key: seeded.adminKey)
            try await client.execute(uri: "/v1/auth/session", method: .delete, headers: [.cookie: cookie]) { r in
                #expect(r.status == .forbidden)
                #expect(r.errorCode == "csrf_failed")
            }
            try await client.execute(uri: "/v1/auth/session", method: .delete, headers: [.cookie: cookie, .csrf: csrf]) { r in
                #expect(r.status == .noContent)
                #expect(r.headers[.setCookie]?.hasPrefix("parley_session=;") == true)
                #expect(r.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
            #expect(try await store.read { db in try await db.raw("SELECT id FROM console_sessions").all() }.isEmpty)
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: cookie]) { r in
                #expect(r.status == .unauthorized)
                #expect(r.errorCode == "invalid_session")
            }
            try await client.execute(uri: "/v1/auth/session", method: .get, headers: [.cookie: cookie]) { #expect($0.status == .unauthorized) }
            // Signing out again, or without a cookie, still clears it.
            try await client.execute(uri: "/v1/auth/session", method: .delete, headers: [.cookie: cookie]) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/v1/auth/session", method: .delete) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/v1/audit-log?action=console.sign_out", method: .get, headers: auth(seeded.adminKey)) { r in
                let j = try r.json()
                #expect((j["data"] as? [Any])?.count == 1)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func wrongRevokedAndExpiredKeysAreRefusedAndRevokingAKeyEndsItsSessions(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, store, clock in
            let seeded = try #require(seeded)
            for (key, code) in [("prk_" + String(repeating: "x", count: 43), "invalid_api_key"), ("short", "invalid_api_key"), ("", "invalid_api_key")] {
                try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody(["api_key": key])) { r in
                    #expect(r.status == .unauthorized)
                    #expect(r.errorCode == code)
                    #expect(r.headers[.setCookie] == nil)
                }
            }
            let operatorKey = try await seeded.key(store, clock: clock, role: .operator)
            let (cookie, _) = try await signIn(client, key: try #require(operatorKey.secret))
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: cookie]) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/api-keys/\(operatorKey.id)", method: .delete, headers: auth(seeded.adminKey)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: cookie]) { r in
                #expect(r.status == .unauthorized)
                #expect(r.errorCode == "session_revoked")
            }
            try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody(["api_key": operatorKey.secret ?? ""])) { r in
                #expect(r.errorCode == "api_key_revoked")
            }
            // A key that expires takes its sessions with it.
            let shortKey = try await seeded.key(store, clock: clock, role: .viewer, expiresAt: clock.now().addingTimeInterval(3600))
            let (viewerCookie, _) = try await signIn(client, key: try #require(shortKey.secret))
            clock.advance(by: 3601)
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: viewerCookie]) { #expect($0.errorCode == "session_revoked") }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func sessionsExpireWhenIdleAndAfterTheMaximumAge(_ kind: DatabaseKind) async throws {
        try await withServer(kind, env: ["PARLEY_SESSION_IDLE_MINUTES": "60", "PARLEY_SESSION_MAX_DAYS": "1"]) { client, seeded, _, clock in
            let key = try #require(seeded).adminKey
            let (idle, _) = try await signIn(client, key: key)
            clock.advance(by: 59 * 60)
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: idle]) { #expect($0.status == .ok) }
            // Each use slides the idle window.
            clock.advance(by: 59 * 60)
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: idle]) { #expect($0.status == .ok) }
            clock.advance(by: 61 * 60)
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: idle]) { r in
                #expect(r.status == .unauthorized)
                #expect(r.errorCode == "session_expired")
            }
            // Kept busy, a session still ends at its maximum age.
            let (busy, _) = try await signIn(client, key: key)
            for _ in 0..<28 {
                clock.advance(by: 50 * 60)
                try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: busy]) { #expect($0.status == .ok) }
            }
            clock.advance(by: 50 * 60)
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: busy]) { #expect($0.errorCode == "session_expired") }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aOneTimeLinkSignsInOnceWithinADay(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, store, clock in
            let seeded = try #require(seeded)
            let keys = try await APIKeyService(store: store, clock: clock).list(Principal(tenantID: seeded.tenant.id, keyID: nil, role: .admin, actor: "test"))
            let adminKeyID = try #require(keys.first?.id)
            let sessions = ConsoleSessionService(store: store, clock: clock, settings: .init(idle: 3600, maxAge: 86_400))
            let token = try await sessions.issueSignInToken(tenantID: seeded.tenant.id, keyID: adminKeyID)
            // Stored hashed.
            let hashes = try await store.read { db in try await db.raw("SELECT token_hash FROM console_signin_tokens").all() }
            #expect(try hashes.map { try $0.decode(column: "token_hash", as: String.self) } == [APIKeySecret.hash(token)])

            try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody(["token": token])) { r in
                #expect(r.status == .ok)
                let j = try r.json()
                #expect(j["role"] as? String == "admin")
                let cookie = try sessionCookie(r)
                try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: cookie]) { #expect($0.status == .ok) }
            }
            try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody(["token": token])) { r in
                #expect(r.status == .unauthorized)
                #expect(r.errorCode == "invalid_signin_token")
            }
            let late = try await sessions.issueSignInToken(tenantID: seeded.tenant.id, keyID: adminKeyID)
            clock.advance(by: 24 * 3600 + 1)
            for bad in [late, String(repeating: "0", count: 64), "not-a-token", String(repeating: "a", count: 5000)] {
                try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody(["token": bad])) { r in
                    #expect(r.status == .unauthorized || r.status == .contentTooLarge)
                    #expect(r.errorCode == "invalid_signin_token" || r.errorCode == "payload_too_large")
                }
            }
            try await client.execute(uri: "/v1/audit-log?action=console.sign_in", method: .get, headers: auth(seeded.adminKey)) { r in
                let rows = try #require(try r.json()["data"] as? [[String: Any]])
                #expect(rows.count == 1)
                #expect(rows.first?["details"] as? String == "via=link")
            }
        }
    }

    @Test func badSignInBodiesAndTamperedCookiesAre4xx() async throws {
        try await withServer(.sqlite) { client, seeded, _, _ in
            let key = try #require(seeded).adminKey
            try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody([:])) { #expect($0.errorCode == "invalid_sign_in") }
            try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody(["api_key": key, "token": "x"])) {
                #expect($0.errorCode == "invalid_sign_in")
            }
            try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: ByteBuffer(string: "{\"api_key\":")) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/v1/auth/session", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: key)) {
                #expect($0.status == .unsupportedMediaType)
            }
            try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType,
                                     body: jsonBody(["api_key": String(repeating: "k", count: 5000)])) { r in
                #expect(r.status == .contentTooLarge)
            }
            try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody(["api_key": 42])) { #expect($0.status == .badRequest) }

            let (cookie, csrf) = try await signIn(client, key: key)
            let secret = cookie.dropFirst("parley_session=".count)
            let flipped = (secret.first == "a" ? "b" : "a") + secret.dropFirst()
            for bad in ["parley_session=\(flipped)", "parley_session=\(secret)x", "parley_session=\(String(repeating: "Z", count: 64))",
                        "parley_session=\(String(repeating: "a", count: 3000))"] {
                try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: bad]) { r in
                    #expect(r.status == .unauthorized)
                    #expect(r.errorCode == "invalid_session")
                }
                try await client.execute(uri: "/v1/auth/session", method: .get, headers: [.cookie: bad]) { #expect($0.status == .unauthorized) }
            }
            try await client.execute(uri: "/v1/auth/session", method: .get) { #expect($0.errorCode == "not_signed_in") }
            // A Bearer header wins over a cookie, and a bad one is not rescued by it.
            try await client.execute(uri: "/v1/tenant", method: .get, headers: [.cookie: cookie, .authorization: "Bearer nope"]) { #expect($0.status == .unauthorized) }
            // The CSRF token is bound to its session.
            let (other, _) = try await signIn(client, key: key)
            try await client.execute(uri: "/v1/sessions", method: .post, headers: [.cookie: other, .csrf: csrf]) { #expect($0.errorCode == "csrf_failed") }
        }
    }

    @Test func theCookieIsSecureBehindHTTPSAndWebSocketsMustComeFromTheSameOrigin() async throws {
        try await withServer(.sqlite, env: ["PARLEY_PUBLIC_URL": "https://parley.example.com"]) { client, seeded, _, _ in
            let key = try #require(seeded).adminKey
            let cookie = try await client.execute(uri: "/v1/auth/session", method: .post, headers: jsonType, body: jsonBody(["api_key": key])) { r in
                #expect(r.headers[.setCookie]?.hasSuffix("; Secure") == true)
                return try sessionCookie(r)
            }
            let upgrade: HTTPFields = [.cookie: cookie, .upgrade: "websocket", .connection: "Upgrade", HTTPField.Name("Host")!: "127.0.0.1:8080"]
            for origin in ["https://evil.example", "http://127.0.0.1:8081", "null"] {
                var h = upgrade
                h[.origin] = origin
                try await client.execute(uri: "/ws", method: .get, headers: h) { r in
                    #expect(r.status == .forbidden)
                    #expect(r.errorCode == "origin_not_allowed")
                }
            }
            try await client.execute(uri: "/ws", method: .get, headers: upgrade) { #expect($0.errorCode == "origin_not_allowed") }
            // The public URL's origin gets past authentication (the router test client cannot upgrade).
            for origin in ["https://parley.example.com"] {
                var h = upgrade
                h[.origin] = origin
                h[.upgrade] = nil
                try await client.execute(uri: "/ws", method: .get, headers: h) { #expect($0.errorCode == "upgrade_required") }
            }
        }
    }

    @Test func sameOriginRules() {
        #expect(ConsoleOrigin.sameOrigin("http://localhost:8080", host: "localhost:8080", publicURL: nil))
        #expect(ConsoleOrigin.sameOrigin("HTTP://LOCALHOST:8080", host: "localhost:8080", publicURL: nil))
        #expect(!ConsoleOrigin.sameOrigin("http://localhost:8080.evil.example", host: "localhost:8080", publicURL: nil))
        #expect(!ConsoleOrigin.sameOrigin(nil, host: "localhost:8080", publicURL: nil))
        #expect(ConsoleOrigin.sameOrigin("https://app.example", host: "10.0.0.5:8080", publicURL: "https://app.example/"))
        #expect(!ConsoleOrigin.sameOrigin("https://app.example:444", host: "10.0.0.5:8080", publicURL: "https://app.example/"))
    }
}

@Suite struct ConsoleSupportRouteTests {
    @Test(arguments: TestEnv.kinds)
    func sessionsAreListedNewestFirstPagedAndRenamed(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, _, clock in
            let key = try #require(seeded).adminKey
            var ids: [String] = []
            for n in 1...3 {
                clock.advance(by: 1)
                let id = try await client.execute(uri: "/v1/sessions", method: .post, headers: auth(key, json: true), body: jsonBody(["title": "Matter \(n)"])) { r in
                    try #require(try r.json()["session_id"] as? String)
                }
                ids.append(id)
            }
            let next = try await client.execute(uri: "/v1/sessions?limit=2", method: .get, headers: auth(key)) { r in
                let j = try r.json()
                #expect((j["data"] as? [[String: Any]])?.compactMap { $0["session_id"] as? String } == [ids[2], ids[1]])
                return try #require(j["next_cursor"] as? String)
            }
            try await client.execute(uri: "/v1/sessions?limit=2&before=\(next)", method: .get, headers: auth(key)) { r in
                let j = try r.json()
                #expect((j["data"] as? [[String: Any]])?.compactMap { $0["title"] as? String } == ["Matter 1"])
                #expect(j["next_cursor"] is NSNull)
            }
            try await client.execute(uri: "/v1/sessions/\(ids[0])", method: .patch, headers: auth(key, json: true), body: jsonBody(["title": "  Smyth intake  "])) { r in
                #expect(r.status == .ok)
                let j = try r.json()
                #expect(j["title"] as? String == "Smyth intake")
            }
            try await client.execute(uri: "/v1/sessions/\(ids[0])", method: .patch, headers: auth(key, json: true), body: jsonBody(["title": String(repeating: "t", count: 201)])) {
                #expect($0.errorCode == "invalid_title")
            }
            try await client.execute(uri: "/v1/sessions/\(UUIDv7.make(at: Date()))", method: .patch, headers: auth(key, json: true), body: jsonBody(["title": "x"])) {
                #expect($0.errorCode == "session_not_found")
            }
            try await client.execute(uri: "/v1/sessions/nope", method: .patch, headers: auth(key, json: true), body: jsonBody(["title": "x"])) {
                #expect($0.errorCode == "invalid_session_id")
            }
            try await client.execute(uri: "/v1/sessions?before=nope", method: .get, headers: auth(key)) { #expect($0.errorCode == "invalid_session_id") }
            // Another tenant sees none of them.
        }
    }

    @Test(arguments: TestEnv.kinds)
    func templateVersionsAreListedNewestFirstWithTheDefaultLast(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, _, clock in
            let key = try #require(seeded).adminKey
            let name = try await client.execute(uri: "/v1/templates", method: .get, headers: auth(key)) { r in
                try #require((try r.json()["data"] as? [[String: Any]])?.first { $0["channel"] as? String == "sms" }?["name"] as? String)
            }
            for text in ["First {{first_name}}", "Second {{first_name}}"] {
                clock.advance(by: 1)
                try await client.execute(uri: "/v1/templates/\(name)", method: .put, headers: auth(key, json: true),
                                         body: jsonBody(["channel": "sms", "purpose": "transactional", "text": text])) { #expect($0.status == .ok) }
            }
            try await client.execute(uri: "/v1/templates/\(name)/versions", method: .get, headers: auth(key)) { r in
                let rows = try #require(try r.json()["data"] as? [[String: Any]])
                #expect(rows.count == 3)
                #expect(rows.compactMap { $0["current"] as? Bool } == [true, false, false])
                #expect(rows.first?["text"] as? String == "Second {{first_name}}")
                #expect((rows.first?["created_by"] as? String)?.hasPrefix("api_key:") == true)
                #expect(rows.last?["created_by"] is NSNull)
            }
            try await client.execute(uri: "/v1/templates/no_such_template/versions", method: .get, headers: auth(key)) { #expect($0.errorCode == "template_not_found") }
        }
    }
}
