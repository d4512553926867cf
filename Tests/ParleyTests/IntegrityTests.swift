import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ParleyAgent
@testable import ParleyComms
import ParleyApp
import ParleyCore
import ParleyHTTP
import ParleyServer
import ParleyStorage
import Synchronization
import Testing

/// Issue 18: what the API acknowledges is what it stores (NUL, percent-encoded paths, dates,
/// phone numbers), and who may do what is decided before a body is read.
extension TestClientProtocol {
    /// Sends `body` as it is (no re-encoding, so `\u0000` escapes reach the server unchanged).
    func raw(_ method: HTTPRequest.Method, _ key: String, _ uri: String, _ body: String? = nil) async throws -> (HTTPResponse.Status, JSONValue) {
        try await execute(uri: uri, method: method, headers: auth(key, json: body != nil), body: body.map { ByteBuffer(string: $0) }) { r in
            (r.status, (try? JSONValue.parse(String(buffer: r.body))) ?? .null)
        }
    }
}

@Suite struct TextIntegrityTests {
    @Test(arguments: TestEnv.kinds)
    func aNULCharacterIsRefusedNamingTheFieldAndNothingIsStored(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, _, _ in
            let key = seeded.adminKey
            let session = try #require(try await client.postJSON(key, "/v1/sessions", [:], status: .created)["session_id"]?.stringValue)
            let refused: [(HTTPRequest.Method, String, String, String)] = [
                (.post, "/v1/cases", #"{"client_name":"Nul\u0000Name","client_email":"nul@example.com","requested_documents":["W2"]}"#, "'client_name'"),
                (.post, "/v1/cases", #"{"client_name":"Ada","client_email":"ada@example.com","requested_documents":["W\u00002"]}"#, "'requested_documents[0]'"),
                (.post, "/v1/sessions", #"{"title":"Nul\u0000Title"}"#, "'title'"),
                (.patch, "/v1/sessions/\(session)", #"{"title":"Nul\u0000Title"}"#, "'title'"),
                (.post, "/v1/chat", #"{"message":"How many open cases\u0000?"}"#, "'message'"),
                (.post, "/v1/sessions/\(session)/messages", #"{"content":"hello\u0000"}"#, "'content'"),
                (.put, "/v1/templates/nul.test", #"{"channel":"email","subject":"Hi","text":"Hello \u0000 there"}"#, "'text'"),
                (.post, "/v1/messages", #"{"channel":"email","to":"ada@example.com","subject":"Hi","text":"a\u0000b"}"#, "'text'"),
                (.post, "/v1/messages", #"{"channel":"email","to":"ada@example.com","subject":"Hi","text":"x","variables":{"a\u0000b":"c"}}"#, "'variables.a\\u0000b'"),
            ]
            for (method, uri, body, field) in refused {
                let (status, answer) = try await client.raw(method, key, uri, body)
                #expect(status == .badRequest, "\(method) \(uri): \(answer)")
                #expect(answer["error"]?["code"] == "invalid_text", "\(method) \(uri): \(answer)")
                #expect(answer["error"]?["message"]?.stringValue?.contains(field) == true, "\(method) \(uri): \(answer)")
            }
            // Nothing was stored by any of them.
            #expect(try await client.getJSON(key, "/v1/cases")["data"]?.arrayValue?.isEmpty == true)
            #expect(try await client.getJSON(key, "/v1/sessions/\(session)")["title"] == .null)
            #expect(try await client.getJSON(key, "/v1/sessions/\(session)/messages")["data"]?.arrayValue?.isEmpty == true)
            #expect(try await client.getJSON(key, "/v1/outbox")["data"]?.arrayValue?.isEmpty == true)
            _ = try await client.getJSON(key, "/v1/templates/nul.test", status: .notFound)

            // Query and path parameters follow the same rule.
            for uri in ["/v1/cases?status=open%00", "/v1/workflows?status=%00", "/v1/cases/abc%00def", "/v1/templates/nul%00"] {
                let (status, answer) = try await client.raw(.get, key, uri)
                #expect(status == .badRequest && answer["error"]?["code"] == "invalid_text", "\(uri): \(answer)")
            }

            // A backslash followed by "u0000" is ordinary text: stored and read back exactly.
            let (status, created) = try await client.raw(.post, key, "/v1/cases",
                                                         #"{"client_name":"Back\\u0000Slash","client_email":"b@example.com","requested_documents":["W2"]}"#)
            #expect(status == .created, "\(created)")
            let id = try #require(created["case_id"]?.stringValue)
            #expect(try await client.getJSON(key, "/v1/cases/\(id)")["client_name"]?.stringValue == #"Back\u0000Slash"#)
        }
    }

    /// Provider webhooks' form bodies follow the same rule (Twilio's inbound SMS text is stored).
    @Test func aNULInAWebhookFormIsRefused() throws {
        #expect(try FormBody.parse(Data("From=%2B14155550100&Body=Hi+there".utf8))["Body"] == "Hi there")
        #expect(throws: ParleyError.badRequest("the form field 'Body' contains a NUL character", code: "invalid_text")) {
            try FormBody.parse(Data("From=%2B14155550100&Body=Hi%00there".utf8))
        }
    }

    @Test(arguments: TestEnv.kinds)
    func pathParametersArePercentDecodedOnceForEveryRoute(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, _, _ in
            let key = seeded.adminKey
            // %2B is '+': the encoded and the raw forms name the same recipient.
            _ = try await client.putJSON(key, "/v1/consent/sms/%2B14155550100", ["status": "opted_out"])
            let consent = try await client.getJSON(key, "/v1/consent/sms/+14155550100")
            #expect(consent["current"]?["recipient"] == "+14155550100" && consent["current"]?["status"] == "opted_out")
            #expect(try await client.getJSON(key, "/v1/consent/sms/%2B14155550100")["current"]?["status"] == "opted_out")

            // %2E is '.': the default legal template, by either spelling.
            let plain = try await client.getJSON(key, "/v1/templates/legal.follow_up_reminder")
            let encoded = try await client.getJSON(key, "/v1/templates/legal%2Efollow_up_reminder")
            #expect(plain["name"] == "legal.follow_up_reminder" && encoded["name"] == plain["name"])

            // %2F and %20 stay inside their segment: the route matches, the name holds the character.
            for (uri, name) in [("/v1/templates/a%2Fb", "a/b"), ("/v1/templates/no%20such", "no such")] {
                let (status, answer) = try await client.raw(.get, key, uri)
                #expect(status == .notFound && answer["error"]?["code"] == "template_not_found", "\(uri): \(answer)")
                #expect(answer["error"]?["message"]?.stringValue?.contains("'\(name)'") == true, "\(uri): \(answer)")
            }
            // Invalid percent sequences (not hex, cut short, not UTF-8) are a 400 naming the parameter.
            for uri in ["/v1/templates/%ZZ", "/v1/templates/abc%2", "/v1/templates/%FF%FE", "/v1/cases/%E2%82"] {
                let (status, answer) = try await client.raw(.get, key, uri)
                #expect(status == .badRequest && answer["error"]?["code"] == "invalid_path", "\(uri): \(answer)")
                #expect(answer["error"]?["message"]?.stringValue?.contains("path parameter") == true)
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func datesOutsideASaneRangeAreRefusedNamingTheField(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, _, clock in
            let key = seeded.adminKey
            func message(_ sendAt: String) -> String {
                #"{"channel":"email","to":"ada@example.com","subject":"Hi","text":"Hello","send_at":"\#(sendAt)"}"#
            }
            for (sendAt, code) in [("99999-01-01T00:00:00Z", "invalid_date"), ("1999-12-31T23:59:59Z", "invalid_date"),
                                   (JSONCoding.format(clock.now().addingTimeInterval(400 * 86_400)), "send_at_too_far")] {
                let (status, answer) = try await client.raw(.post, key, "/v1/messages", message(sendAt))
                #expect(status == .badRequest && answer["error"]?["code"]?.stringValue == code, "\(sendAt): \(answer)")
                #expect(answer["error"]?["message"]?.stringValue?.contains("send_at") == true, "\(answer)")
            }
            #expect(try await client.getJSON(key, "/v1/outbox")["data"]?.arrayValue?.isEmpty == true)
            let (status, _) = try await client.raw(.post, key, "/v1/messages", message(JSONCoding.format(clock.now().addingTimeInterval(300 * 86_400))))
            #expect(status == .accepted, "within the horizon")

            let (keyStatus, keyAnswer) = try await client.raw(.post, key, "/v1/api-keys", #"{"name":"x","role":"viewer","expires_at":"3000-01-01T00:00:00Z"}"#)
            #expect(keyStatus == .badRequest && keyAnswer["error"]?["code"] == "invalid_date", "\(keyAnswer)")
            #expect(keyAnswer["error"]?["message"]?.stringValue?.contains("expires_at") == true)
            let (listStatus, listAnswer) = try await client.raw(.get, key, "/v1/workflows?created_after=1970-01-01T00:00:00Z")
            #expect(listStatus == .badRequest && listAnswer["error"]?["code"] == "invalid_date", "\(listAnswer)")
            #expect(listAnswer["error"]?["message"]?.stringValue?.contains("created_after") == true)
        }
    }
}

@Suite struct AuthorizationOrderTests {
    static func routeTable() async throws -> RouteTable {
        let table = RouteTable()
        let clock = TestClock()
        try await TestDatabases.withStore(.sqlite, clock: clock) { store in
            _ = try buildRouter(ServerDependencies(config: try ParleyConfig.load(ConfigSources()), store: store, clock: clock, logger: Logger(label: "t"),
                                                   migrations: [], keyring: .random(), packs: ParleySchema.packs), routes: table)
        }
        return table
    }

    /// A viewer sending an empty or broken body to any route that changes something gets 403 with
    /// a sentence naming the action, never a 400 about the body.
    @Test(arguments: TestEnv.kinds)
    func aViewerIsRefusedBeforeTheBodyIsReadWithTheActionInWords(_ kind: DatabaseKind) async throws {
        let table = try await Self.routeTable()
        // Mutating methods a viewer may use: searching cases or the knowledge base, previewing templates and converting documents only read.
        let viewerMay: Set<String> = ["POST /v1/cases/search", "POST /v1/templates/:name/preview", "POST /v1/rag/search", "POST /v1/rag/query", "POST /v1/convert"]
        let routes = table.all.filter { route in
            ["POST", "PUT", "PATCH", "DELETE"].contains(route.method) && !viewerMay.contains("\(route.method) \(route.path)")
                && ((route.path.hasPrefix("/v1/") && !route.path.hasPrefix("/v1/auth")) || route.path == "/chat" || route.path.hasPrefix("/api/"))
        }
        #expect(routes.count >= 25, "\(routes.count) routes")
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, store, clock in
            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            for route in routes {
                let uri = route.path.split(separator: "/").map { $0.hasPrefix(":") ? "x1" : String($0) }.joined(separator: "/")
                for body in ["{}", "{", ""] {
                    let (status, answer) = try await client.raw(try #require(HTTPRequest.Method(route.method)), viewer, "/" + uri, body)
                    let text = answer["error"]?["message"]?.stringValue ?? ""
                    #expect(status == .forbidden, "\(route.method) \(route.path) with '\(body)': \(answer)")
                    #expect(text.hasPrefix("this key's role (viewer) may not "), "\(route.method) \(route.path): \(text)")
                    #expect(!text.contains { $0.isUppercase } || text.contains("SMS") || text.contains("API"), "no identifiers: \(text)")
                }
            }
            // A service key may act but not operate: the refusal says what it tried.
            let service = try #require(try await seeded.key(store, clock: clock, role: .service).secret)
            let (status, answer) = try await client.raw(.put, service, "/v1/templates/x", "{}")
            #expect(status == .forbidden && answer["error"]?["message"]?.stringValue?.hasPrefix("this key's role (service) may not change templates") == true,
                    "\(answer)")
        }
    }
}

@Suite struct OutboundGuardTests {
    static let strict = OutboundGuard(policy: .publicOnly)

    @Test func loopbackPrivateLinkLocalAndMappedAddressesAreRefused() async throws {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "10.1.2.3", "172.16.0.1", "192.168.1.10", "169.254.169.254", "0.0.0.0", "::",
                     "100.100.100.200", "::ffff:127.0.0.1", "[::ffff:169.254.169.254]", "::ffff:a9fe:a9fe", "64:ff9b::a9fe:a9fe", "::10.0.0.1",
                     "fd00:ec2::254", "fe80::1", "224.0.0.1", "ff02::1", "255.255.255.255", "localhost"] {
            await #expect(throws: OutboundRefusal.self, "\(host)") { _ = try await Self.strict.check(host: host, what: "base_url") }
        }
        for host in ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"] {
            #expect(try await Self.strict.check(host: host, what: "base_url") == IPAddress(host))
        }
        do {
            _ = try await Self.strict.check(host: "169.254.169.254", what: "base_url")
        } catch {
            #expect(error.message.contains("base_url") && error.message.contains("link-local") && error.message.contains("PARLEY_OUTBOUND_ALLOW"))
        }
    }

    @Test func everyResolvedAddressIsCheckedAndTheCheckedOneIsReturned() async throws {
        // A name resolving to a public and a private address (a rebinding set-up) is refused.
        let mixed = OutboundGuard(policy: .publicOnly) { _ in [IPAddress("93.184.216.34")!, IPAddress("10.0.0.7")!] }
        await #expect(throws: OutboundRefusal.self) { _ = try await mixed.check(host: "api.example.com", what: "base_url") }
        let fine = OutboundGuard(policy: .publicOnly) { _ in [IPAddress("93.184.216.34")!] }
        #expect(try await fine.check(host: "api.example.com", what: "base_url") == IPAddress("93.184.216.34"))
        let failing = OutboundGuard(policy: .publicOnly) { _ in throw CommsTestFailure("no such host") }
        await #expect(throws: OutboundRefusal.self) { _ = try await failing.check(host: "nowhere.example", what: "base_url") }
    }

    @Test func theInstallationsAllowListIsParsedAndHonoured() async throws {
        let policy = try #require(OutboundPolicy.parse("127.0.0.0/8, fd00::/8 ,mail.internal"))
        let allowing = OutboundGuard(policy: policy) { host in host == "mail.internal" ? [IPAddress("10.9.9.9")!] : [] }
        #expect(try await allowing.check(host: "127.0.0.1", what: "x") == IPAddress("127.0.0.1"))
        #expect(try await allowing.check(host: "::ffff:127.0.0.1", what: "x") == IPAddress("::ffff:127.0.0.1"))
        #expect(try await allowing.check(host: "fd00::5", what: "x") == IPAddress("fd00::5"))
        #expect(try await allowing.check(host: "MAIL.internal", what: "x") == IPAddress("10.9.9.9"))
        await #expect(throws: OutboundRefusal.self) { _ = try await allowing.check(host: "::1", what: "x") }
        await #expect(throws: OutboundRefusal.self) { _ = try await allowing.check(host: "10.0.0.1", what: "x") }

        for bad in ["10.0.0.0/33", "not a host!", "::1/200", "http://x"] {
            #expect(throws: ConfigError.self, "\(bad)") { _ = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_OUTBOUND_ALLOW": bad])) }
            do { _ = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_OUTBOUND_ALLOW": bad])) } catch {
                #expect(error.description.contains("PARLEY_OUTBOUND_ALLOW"))
            }
        }
        #expect(try ParleyConfig.load(ConfigSources(environment: ["PARLEY_OUTBOUND_ALLOW": "10.0.0.0/8,smtp.lan"])).jobs.outbound.hosts == ["smtp.lan"])
        #expect(try ParleyConfig.load(ConfigSources()).jobs.outbound == .publicOnly)
    }

    @Test(arguments: TestEnv.kinds)
    func aTenantCannotPointItsChannelsAtPrivateAddresses(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false"]) { client, seeded, _, _ in
            let refused: [(String, JSONValue, String)] = [
                ("email", ["provider": "sendgrid", "api_key": "SG.k", "from": "a@acme.example", "base_url": "http://127.0.0.1:9/v3"], "loopback"),
                ("email", ["provider": "resend", "api_key": "re_k", "from": "a@acme.example", "base_url": "http://[::1]:9"], "loopback"),
                ("email", ["provider": "resend", "api_key": "re_k", "from": "a@acme.example", "base_url": "http://localhost:9"], "loopback"),
                ("email", ["provider": "sendgrid", "api_key": "SG.k", "from": "a@acme.example", "base_url": "http://169.254.169.254/latest/meta-data"], "link-local"),
                ("email", ["provider": "sendgrid", "api_key": "SG.k", "from": "a@acme.example", "base_url": "http://[::ffff:10.0.0.1]"], "private"),
                ("email", ["provider": "smtp", "smtp_url": "smtp+insecure://10.1.2.3:25", "from": "a@acme.example"], "private"),
                ("sms", ["provider": "twilio", "account_sid": "AC1", "auth_token": "t", "from": "+15550100", "base_url": "https://192.168.0.1"], "private"),
            ]
            for (channel, body, reason) in refused {
                let answer = try await client.putJSON(seeded.adminKey, "/v1/channels/\(channel)", body, status: .badRequest)
                #expect(answer["error"]?["code"] == "outbound_address_refused", "\(body.serialized()): \(answer)")
                #expect(answer["error"]?["message"]?.stringValue?.contains(reason) == true, "\(answer)")
            }
            #expect(try await client.getJSON(seeded.adminKey, "/v1/channels")["data"]?[0]?["source"] == "installation")
        }
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false", "PARLEY_OUTBOUND_ALLOW": "127.0.0.1/32"]) { client, seeded, _, _ in
            _ = try await client.putJSON(seeded.adminKey, "/v1/channels/email",
                                         ["provider": "sendgrid", "api_key": "SG.k", "from": "a@acme.example", "base_url": "http://127.0.0.1:9/v3"])
        }
    }

    /// A guarded client resolves the name once, through the guard, and connects to the checked
    /// address: the system resolver is never asked (`.test` names do not resolve), so there is no
    /// window for a second DNS answer.
    @Test func aGuardedClientConnectsToTheCheckedAddressUnderItsName() async throws {
        try await CommsFakeProviderServer.with(SendGridClientTests.accepted) { baseURL, server in
            let port = try #require(baseURL.split(separator: ":").last.map(String.init))
            let asked = Mutex<[String]>([])
            let outbound = OutboundGuard(policy: try #require(OutboundPolicy.parse("127.0.0.1"))) { host in
                asked.withLock { $0.append(host) }
                return [IPAddress("127.0.0.1")!]
            }
            let client = SendGridClientTests.client("http://api.sendgrid.test:\(port)").guarded(by: outbound)
            _ = try await client.send(SendGridClientTests.email)
            #expect(asked.withLock { $0 } == ["api.sendgrid.test"])
            #expect(try server.onlyRequest().path == "/v3/mail/send", "the request reached the checked address")

            // The same name resolving to a private address that is not allowed: no request at all.
            let refusing = OutboundGuard(policy: .publicOnly) { _ in [IPAddress("127.0.0.1")!] }
            await #expect(throws: DeliveryError.self) {
                _ = try await SendGridClientTests.client("http://api.sendgrid.test:\(port)").guarded(by: refusing).send(SendGridClientTests.email)
            }
            #expect(server.requests.count == 1)
        }
    }

    @Test(arguments: TestEnv.kinds)
    func aTenantsSMTPServerIsCheckedAgainAtSendTime(_ kind: DatabaseKind) async throws {
        let keyring = Keyring.random()
        try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false", "PARLEY_OUTBOUND_ALLOW": "127.0.0.1"], keyring: keyring) { client, seeded, store, clock in
            _ = try await client.putJSON(seeded.adminKey, "/v1/channels/email",
                                         ["provider": "smtp", "smtp_url": "smtp+insecure://127.0.0.1:9", "from": "a@acme.example"])
            _ = try await client.postJSON(seeded.adminKey, "/v1/messages", ["channel": "email", "to": "ada@example.com", "subject": "Hi", "text": "Hello"],
                                          status: .accepted)
            let worker = CommsWorker(queue: JobQueue(store: store, clock: clock),
                                     router: CommsAssembly.router(try ParleyConfig.load(ConfigSources()).jobs, keyring: keyring),
                                     settings: WorkerSettings(), logger: Logger(label: "t"))
            #expect(try await worker.runDueJobs() == 1)
            let job = try await client.getJSON(seeded.adminKey, "/v1/jobs")["data"]?[0]
            #expect(job?["state"] == "retrying")
            let error = job?["last_error"]?.stringValue ?? ""
            #expect(error.contains("outbound address refused") && error.contains("smtp_url") && error.contains("loopback"), "\(error)")
        }
    }

    /// The worker checks again at every send (DNS and the allow-list may have changed since the
    /// settings were saved), and a redirect from a tenant's endpoint is not followed.
    @Test(arguments: TestEnv.kinds)
    func theWorkerRechecksAtSendTimeAndFollowsNoRedirect(_ kind: DatabaseKind) async throws {
        let keyring = Keyring.random()
        try await CommsFakeProviderServer.with(SendGridClientTests.accepted) { innerURL, inner in
            try await CommsFakeProviderServer.with(.answer(status: 307, headers: ["location": innerURL + "/v3/mail/send"], body: "")) { baseURL, outer in
                try await withAgentServer(kind, env: ["PARLEY_SERVE_WORKER": "false", "PARLEY_OUTBOUND_ALLOW": "127.0.0.1"], keyring: keyring) { client, seeded, store, clock in
                    _ = try await client.putJSON(seeded.adminKey, "/v1/channels/email", [
                        "provider": "sendgrid", "from": "Acme <hello@acme.example>", "api_key": "SG.acme-key-0123456789", "base_url": .string(baseURL),
                    ])
                    _ = try await client.postJSON(seeded.adminKey, "/v1/messages", ["channel": "email", "to": "ada@example.com", "subject": "Hi", "text": "Hello"],
                                                  status: .accepted)
                    func worker(_ env: [String: String]) throws -> CommsWorker {
                        CommsWorker(queue: JobQueue(store: store, clock: clock),
                                    router: CommsAssembly.router(try ParleyConfig.load(ConfigSources(environment: env)).jobs, keyring: keyring),
                                    settings: WorkerSettings(), logger: Logger(label: "t"))
                    }
                    // A worker whose installation no longer allows the address refuses before connecting.
                    #expect(try await worker([:]).runDueJobs() == 1)
                    var job = try await client.getJSON(seeded.adminKey, "/v1/jobs")["data"]?[0]
                    #expect(job?["state"] == "retrying")
                    #expect(job?["last_error"]?.stringValue?.contains("outbound address refused") == true, "\(String(describing: job))")
                    #expect(outer.requests.isEmpty && inner.requests.isEmpty)

                    // Allowed: the endpoint is called once, and its redirect is not followed.
                    clock.advance(by: 3600)
                    #expect(try await worker(["PARLEY_OUTBOUND_ALLOW": "127.0.0.1"]).runDueJobs() == 1)
                    job = try await client.getJSON(seeded.adminKey, "/v1/jobs")["data"]?[0]
                    #expect(job?["last_error"]?.stringValue?.contains("redirect") == true, "\(String(describing: job))")
                    #expect(outer.requests.count == 1 && inner.requests.isEmpty)
                }
            }
        }
    }
}
