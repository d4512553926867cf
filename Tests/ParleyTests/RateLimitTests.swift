import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ParleyApp
import ParleyCore
import ParleyPlatform
@testable import ParleyServer
import ParleyStorage
import Testing

private let limitHeader = HTTPField.Name("RateLimit-Limit")!
private let remainingHeader = HTTPField.Name("RateLimit-Remaining")!
private let resetHeader = HTTPField.Name("RateLimit-Reset")!

private func code(_ r: TestResponse) -> String? {
    (try? JSONValue.parse(String(buffer: r.body)))?["error"]?["code"]?.stringValue
}

private func rules(key: TokenBucketRule = .init(capacity: 3, refillPerSecond: 1), maxBuckets: Int = 100_000) -> RateLimitRules {
    RateLimitRules(settings: RateLimitSettings(key: key, tenant: .init(capacity: 100, refillPerSecond: 10), login: .init(capacity: 2, per: 1, seconds: 60),
                                               maxBuckets: maxBuckets),
                   chat: CustomerChatSettings())
}

/// Two API servers on one database (two replicas when it is PostgreSQL, each with its own store).
private func withTwoReplicas(_ kind: DatabaseKind, env: [String: String],
                             _ body: @escaping @Sendable (any TestClientProtocol, any TestClientProtocol, Seeded, Seeded, any Store, TestClock) async throws -> Void) async throws {
    let clock = TestClock()
    try await TestDatabases.withFreshURL(kind) { url in
        let first = try await Stores.open(url, config: StoreOptions.test(maxConnections: 4))
        let second = try await Stores.open(url, config: StoreOptions.test(maxConnections: 4))
        do {
            try await Migrator(store: first, migrations: ParleySchema.migrations).migrate(at: clock.now())
            let acme = try await Seeded.make(first, clock: clock, slug: "acme")
            let beta = try await Seeded.make(first, clock: clock, slug: "beta")
            // SQLite counts in process: its "replicas" are one application reached twice.
            let secondStore = kind == .postgres ? second : first
            try await agentApp(store: first, clock: clock, env: env).test(.router) { one in
                if kind == .postgres {
                    try await agentApp(store: secondStore, clock: clock, env: env).test(.router) { two in
                        try await body(one, two, acme, beta, first, clock)
                    }
                } else {
                    try await body(one, one, acme, beta, first, clock)
                }
            }
            await first.shutdown()
            await second.shutdown()
        } catch {
            await first.shutdown()
            await second.shutdown()
            throw error
        }
    }
}

@Suite struct RateLimitTests {
    // MARK: the limiters

    @Test(arguments: TestEnv.kinds)
    func bucketsRefillTakeAndRefuseWithRetryAfter(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let limiter = RateLimiters.make(store: store, clock: clock, rules: rules())
            #expect((kind == .postgres) == (limiter is PostgresRateLimiter))
            let rule = TokenBucketRule(capacity: 3, refillPerSecond: 0.5)
            var seen: [RateLimitDecision] = []
            for _ in 0..<4 { seen += try await limiter.take([RateLimitCheck(.key, key: "k1", rule: rule)]) }
            #expect(seen.map(\.allowed) == [true, true, true, false])
            #expect(seen.map(\.remaining) == [2, 1, 0, 0])
            #expect(seen.map(\.limit) == [3, 3, 3, 3])
            // Empty: 6 s to be full again, 2 s to the next token.
            #expect(seen[2].resetSeconds == 6 && seen[2].retryAfterSeconds == 0)
            #expect(seen[3].retryAfterSeconds == 2 && seen[3].resetSeconds == 6)
            // Another key, and the same key under another kind, have buckets of their own.
            let others = try await limiter.take([RateLimitCheck(.key, key: "k2", rule: rule), RateLimitCheck(.tenant, key: "k1", rule: rule)])
            #expect(others.map(\.allowed) == [true, true] && others.map(\.kind) == [.key, .tenant])
            // Half the wait is not enough; the whole wait gives one token, not more.
            clock.advance(by: 1)
            #expect(try await limiter.take([RateLimitCheck(.key, key: "k1", rule: rule)]).first?.allowed == false)
            clock.advance(by: 1)
            let refilled = try await limiter.take([RateLimitCheck(.key, key: "k1", rule: rule)])
            #expect(refilled.first?.allowed == true && refilled.first?.remaining == 0)
            // A long pause fills the bucket to its capacity and no further.
            clock.advance(by: 3600)
            let full = try await limiter.take([RateLimitCheck(.key, key: "k1", rule: rule)])
            #expect(full.first?.remaining == 2)
            // The same bucket twice in one call pays twice.
            let twice = try await limiter.take([RateLimitCheck(.key, key: "k1", rule: rule), RateLimitCheck(.key, key: "k1", rule: rule)])
            #expect(twice.map(\.remaining) == [1, 0])
        }
    }

    @Test(arguments: TestEnv.kinds)
    func loginHasItsOwnTighterBucketForTheAuthEntryPoint(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestDatabases.withStore(kind, clock: clock) { store in
            let limiter = RateLimiters.make(store: store, clock: clock, rules: rules())
            #expect(try await limiter.check(.login, key: "203.0.113.9")?.allowed == true)
            #expect(try await limiter.enforce(.login, key: "203.0.113.9", tenantID: nil)?.remaining == 0)
            do {
                try await limiter.enforce(.login, key: "203.0.113.9", tenantID: nil)
                Issue.record("a third sign-in attempt in a minute was let through")
            } catch let limited as RateLimited {
                #expect(limited.error.code == "rate_limited" && limited.error.kind == .tooManyRequests)
                #expect(limited.decision.kind == .login && limited.decision.retryAfterSeconds == 60)
                #expect(limited.error.message.contains("sign-in attempts"))
            }
            #expect(try await limiter.check(.login, key: "198.51.100.7")?.allowed == true)
            // Switched off, nothing is counted.
            var off = rules()
            off.settings.enabled = false
            let disabled = RateLimiters.make(store: store, clock: clock, rules: off)
            #expect(try await disabled.check(.login, key: "203.0.113.9") == nil)
        }
    }

    @Test func inProcessBucketsStayBoundedForgettingFullThenIdleOnes() async throws {
        let clock = TestClock()
        let limiter = InProcessRateLimiter(clock: clock, rules: rules(), maxBuckets: 1000)
        // An active caller whose bucket stays nearly empty: never forgotten while full ones can go.
        let slow = TokenBucketRule(capacity: 2, refillPerSecond: 0.01)
        _ = try await limiter.take([RateLimitCheck(.key, key: "busy", rule: slow), RateLimitCheck(.key, key: "busy", rule: slow)])
        // Scanners from 5000 addresses, each full again after 0.1 s.
        let quick = TokenBucketRule(capacity: 2, refillPerSecond: 10)
        for i in 0..<5000 {
            clock.advance(by: 0.001)
            _ = try await limiter.take([RateLimitCheck(.login, key: "address-\(i)", rule: quick)])
            #expect(limiter.count <= 1000)
        }
        #expect(try await limiter.take([RateLimitCheck(.key, key: "busy", rule: slow)]).first?.allowed == false, "the busy bucket was kept")
        // When none is full, the longest idle go first.
        for i in 0..<3000 {
            clock.advance(by: 0.001)
            _ = try await limiter.take([RateLimitCheck(.login, key: "slow-\(i)", rule: slow)])
        }
        #expect(limiter.count <= 1000)
        #expect(try await limiter.take([RateLimitCheck(.login, key: "slow-2999", rule: slow)]).first?.remaining == 0, "the newest bucket was kept")
        #expect(try await limiter.take([RateLimitCheck(.login, key: "slow-0", rule: slow)]).first?.remaining == 1, "the oldest was forgotten")
    }

    @Test func aRefusedCheckChargesNoOtherBucket() async throws {
        let clock = TestClock()
        let limiter = InProcessRateLimiter(clock: clock, rules: rules())
        let one = TokenBucketRule(capacity: 1, refillPerSecond: 0.001)
        let many = TokenBucketRule(capacity: 10, refillPerSecond: 0.001)
        _ = try await limiter.take([RateLimitCheck(.key, key: "k", rule: one), RateLimitCheck(.tenant, key: "t", rule: many)])
        for _ in 0..<5 {
            let d = try await limiter.take([RateLimitCheck(.key, key: "k", rule: one), RateLimitCheck(.tenant, key: "t", rule: many)])
            #expect(d.map(\.allowed) == [false, true])
        }
        #expect(try await limiter.take([RateLimitCheck(.tenant, key: "t", rule: many)]).first?.remaining == 8)
    }

    @Test func postgresPrunesBucketsThatAreFullAgain() async throws {
        guard TestEnv.postgresURL != nil else { return }
        let clock = TestClock()
        try await TestDatabases.withStore(.postgres, clock: clock) { store in
            let limiter = PostgresRateLimiter(store: store, clock: clock, rules: rules())
            let rule = TokenBucketRule(capacity: 5, refillPerSecond: 1)
            for i in 0..<20 { _ = try await limiter.take([RateLimitCheck(.chatAddress, key: "a\(i)", rule: rule)]) }
            #expect(try await limiter.count() == 20)
            clock.advance(by: PostgresRateLimiter.pruneEverySeconds)
            _ = try await limiter.take([RateLimitCheck(.chatAddress, key: "new", rule: rule)])
            #expect(try await limiter.count() == 1)
        }
    }

    // MARK: over HTTP

    @Test(arguments: TestEnv.kinds)
    func aBurstFromOneTenantIsLimitedWhileAnotherTenantGoesOnAcrossReplicas(_ kind: DatabaseKind) async throws {
        let env = ["PARLEY_RATE_LIMIT_KEY_BURST": "5", "PARLEY_RATE_LIMIT_KEY_PER_MINUTE": "60",
                   "PARLEY_RATE_LIMIT_TENANT_BURST": "8", "PARLEY_RATE_LIMIT_TENANT_PER_MINUTE": "60"]
        try await withTwoReplicas(kind, env: env) { one, two, acme, beta, store, clock in
            // Acme's key alternates between the replicas; beta asks at the same time.
            let outcome = try await withThrowingTaskGroup(of: (String, HTTPResponse.Status).self) { group in
                for i in 0..<7 {
                    group.addTask { ("acme", try await (i % 2 == 0 ? one : two).execute(uri: "/v1/tenant", method: .get, headers: auth(acme.adminKey)) { $0.status }) }
                    if i < 4 {
                        group.addTask { ("beta", try await (i % 2 == 0 ? two : one).execute(uri: "/v1/tenant", method: .get, headers: auth(beta.adminKey)) { $0.status }) }
                    }
                }
                var out: [String: [HTTPResponse.Status]] = [:]
                for try await (tenant, status) in group { out[tenant, default: []].append(status) }
                return out
            }
            // Five per key whichever replica answered; beta, asking at the same time, is not refused once.
            #expect(outcome["acme"]?.filter { $0 == .ok }.count == 5)
            #expect(outcome["acme"]?.filter { $0 == .tooManyRequests }.count == 2)
            #expect(outcome["beta"] == [.ok, .ok, .ok, .ok])

            // The refusal: the envelope, Retry-After and the bucket's figures.
            try await two.execute(uri: "/v1/tenant", method: .get, headers: auth(acme.adminKey)) { r in
                #expect(r.status == .tooManyRequests && code(r) == "rate_limited")
                #expect(r.headers[.retryAfter] == "1")
                #expect(r.headers[limitHeader] == "5" && r.headers[remainingHeader] == "0" && r.headers[resetHeader] == "5")
                let body = try JSONValue.parse(String(buffer: r.body))
                #expect(body["error"]?["message"]?.stringValue?.contains("API key") == true)
                #expect(body["error"]?["request_id"]?.stringValue != nil)
            }
            // The tenant bucket holds all of a tenant's keys: acme's refused requests gave their tenant
            // tokens back, so its second key has 3 of the tenant's 8 left.
            let second = try #require(try await acme.key(store, clock: clock, role: .viewer).secret)
            var statuses: [HTTPResponse.Status] = []
            for i in 0..<4 {
                statuses.append(try await (i % 2 == 0 ? one : two).execute(uri: "/v1/tenant", method: .get, headers: auth(second)) { r in
                    if r.status == .tooManyRequests { #expect(r.headers[limitHeader] == "8", "the tenant bucket refused") }
                    return r.status
                })
            }
            #expect(statuses == [.ok, .ok, .ok, .tooManyRequests])
            // /health and /metrics are never limited; the refusals are counted per tenant and bucket.
            for _ in 0..<20 {
                try await one.execute(uri: "/health", method: .get) { #expect($0.status == .ok && $0.headers[limitHeader] == nil) }
            }
            // Each replica counts the refusals it answered; which answered which depends on timing.
            var metrics = ""
            for replica in kind == .sqlite ? [one] : [one, two] {
                metrics += try await replica.execute(uri: "/metrics", method: .get) { r in
                    #expect(r.status == .ok)
                    return String(buffer: r.body)
                }
            }
            if kind == .sqlite {
                // One process counted them all.
                #expect(metrics.contains(#"parley_http_rate_limited_requests_total{tenant="\#(acme.tenant.id)",bucket="key"} 3"#), "\(metrics)")
                #expect(metrics.contains(#"parley_http_rate_limited_requests_total{tenant="\#(acme.tenant.id)",bucket="tenant"} 1"#))
            } else {
                #expect(metrics.contains(#"parley_http_rate_limited_requests_total{tenant="\#(acme.tenant.id)""#))
            }
            #expect(!metrics.contains(#"tenant="\#(beta.tenant.id)""#))

            // Time refills: a second later acme has one request again, with its headers.
            clock.advance(by: 1)
            try await one.execute(uri: "/v1/tenant", method: .get, headers: auth(acme.adminKey)) { r in
                #expect(r.status == .ok)
                #expect(r.headers[limitHeader] == "5" && r.headers[remainingHeader] == "0" && r.headers[resetHeader] == "5")
            }
        }
    }

    @Test(arguments: TestEnv.kinds)
    func normalResponsesCarryTheKeyBucketAndLimitsCanBeSwitchedOff(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, _ in
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(seeded.adminKey)) { r in
                #expect(r.status == .ok)
                #expect(r.headers[limitHeader] == "600" && r.headers[remainingHeader] == "599" && r.headers[resetHeader] == "1")
            }
            // An unauthenticated request is refused by authentication, before any bucket.
            try await client.execute(uri: "/v1/tenant", method: .get) { r in
                #expect(r.status == .unauthorized && r.headers[limitHeader] == nil)
            }
        }
        try await withAgentServer(kind, env: ["PARLEY_RATE_LIMITS": "off", "PARLEY_RATE_LIMIT_KEY_BURST": "1"]) { client, seeded, _, _ in
            for _ in 0..<3 {
                try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(seeded.adminKey)) { r in
                    #expect(r.status == .ok && r.headers[limitHeader] == nil)
                }
            }
        }
    }

    @Test func badSettingsStopStartUpNamingTheSetting() throws {
        for (key, value) in [("PARLEY_RATE_LIMITS", "maybe"), ("PARLEY_RATE_LIMIT_KEY_BURST", "0"), ("PARLEY_RATE_LIMIT_TENANT_PER_MINUTE", "-5"),
                             ("PARLEY_RATE_LIMIT_LOGIN_BURST", "many"), ("PARLEY_RATE_LIMIT_MAX_BUCKETS", "10")] {
            #expect(throws: ConfigError.self, "\(key)=\(value)") { try ParleyConfig.load(ConfigSources(environment: [key: value])) }
            do {
                _ = try ParleyConfig.load(ConfigSources(environment: [key: value]))
            } catch {
                #expect("\(error)".contains(key))
            }
        }
        let config = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_RATE_LIMIT_LOGIN_BURST": "3", "PARLEY_RATE_LIMIT_LOGIN_PER_MINUTE": "2"]))
        #expect(config.rateLimits.login == TokenBucketRule(capacity: 3, per: 2, seconds: 60))
        #expect(config.rateLimits.key == TokenBucketRule(capacity: 600, per: 600, seconds: 60) && config.rateLimits.enabled)
    }

    // MARK: tenant overrides

    @Test(arguments: TestEnv.kinds)
    func tenantLimitsAreAdminOnlyValidatedAuditedAndApplied(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, store, clock in
            let defaults = try await client.getJSON(seeded.adminKey, "/v1/tenant/limits")
            #expect(defaults["key"] == ["capacity": 600, "refill_per_minute": 600, "source": "default"])
            #expect(defaults["tenant"] == ["capacity": 3000, "refill_per_minute": 3000, "source": "default"])
            #expect(defaults["updated_at"] == .null)

            let viewer = try #require(try await seeded.key(store, clock: clock, role: .viewer).secret)
            #expect(try await client.getJSON(viewer, "/v1/tenant/limits")["key"]?["capacity"] == 600)
            try await client.execute(uri: "/v1/tenant/limits", method: .put, headers: auth(viewer, json: true), body: ByteBuffer(string: #"{"unknown":1}"#)) { r in
                #expect(r.status == .forbidden && code(r) == "forbidden")
            }
            let bad: [(String, String, String)] = [
                (#"{"keys":{"capacity":5,"refill_per_minute":60}}"#, "unknown_field", "'keys'"),
                (#"{"key":{"capacity":5,"refill_per_minute":60,"burst":9}}"#, "unknown_field", "'burst' in 'key'"),
                (#"{"key":{"capacity":5,"refil_per_minute":60}}"#, "unknown_field", "refill_per_minute"),
                (#"{"key":{"capacity":5}}"#, "invalid_limits", "refill_per_minute"),
                (#"{"key":{"capacity":0,"refill_per_minute":60}}"#, "invalid_limits", "key.capacity"),
                (#"{"tenant":{"capacity":5,"refill_per_minute":-1}}"#, "invalid_limits", "tenant.refill_per_minute"),
                (#"{"tenant":{"capacity":5,"refill_per_minute":99000000}}"#, "invalid_limits", "tenant.refill_per_minute"),
                (#"{"key":{"capacity":2.5,"refill_per_minute":60}}"#, "invalid_limits", "key must be"),
                (#"{"key":{"capacity":"5","refill_per_minute":60}}"#, "invalid_limits", "key must be"),
                (#"{"key":5}"#, "invalid_limits", "key must be"),
                (#"[1]"#, "invalid_json", "JSON object"),
                (#"{"#, "invalid_json", "JSON"),
            ]
            for (body, expected, words) in bad {
                try await client.execute(uri: "/v1/tenant/limits", method: .put, headers: auth(seeded.adminKey, json: true), body: ByteBuffer(string: body)) { r in
                    #expect(r.status == .badRequest, "\(body)")
                    #expect(code(r) == expected, "\(body): \(String(buffer: r.body))")
                    #expect(String(buffer: r.body).contains(words), "\(body): \(String(buffer: r.body))")
                }
            }
            #expect(try await client.getJSON(seeded.adminKey, "/v1/tenant/limits")["updated_at"] == .null, "a refused change changed nothing")

            let changed = try await client.putJSON(seeded.adminKey, "/v1/tenant/limits", ["key": ["capacity": 2, "refill_per_minute": 60]])
            #expect(changed["key"] == ["capacity": 2, "refill_per_minute": 60, "source": "tenant"])
            #expect(changed["tenant"]?["source"] == "default" && changed["updated_at"] != .null)
            // Applied at once on this replica: the admin key has two requests a burst now (the PUT already spent one of 600).
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(seeded.adminKey)) { r in
                #expect(r.status == .ok && r.headers[limitHeader] == "2")
            }
            let audit = try await client.getJSON(seeded.adminKey, "/v1/audit-log?action=tenant.limits.update")
            let entry = try #require(audit["data"]?.arrayValue?.first)
            #expect(entry["action"] == "tenant.limits.update" && entry["target_id"]?.stringValue == seeded.tenant.id)
            try await client.execute(uri: "/v1/tenant", method: .get, headers: auth(seeded.adminKey)) { r in
                #expect(r.status == .tooManyRequests && r.headers[limitHeader] == "2" && r.headers[.retryAfter] == "1")
            }
            // null goes back to the default; the other bucket is left as it is.
            clock.advance(by: 60)
            let reset = try await client.putJSON(seeded.adminKey, "/v1/tenant/limits", ["key": .null, "tenant": ["capacity": 50, "refill_per_minute": 100]])
            #expect(reset["key"]?["source"] == "default" && reset["key"]?["capacity"] == 600)
            #expect(reset["tenant"] == ["capacity": 50, "refill_per_minute": 100, "source": "tenant"])
            let kept = try await client.putJSON(seeded.adminKey, "/v1/tenant/limits", [:])
            #expect(kept["tenant"]?["capacity"] == 50)
        }
    }
}
