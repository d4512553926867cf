import Foundation
import ParleyCore
import ParleyStorage
import SQLKit
import Synchronization

/// Which allowance a request draws from; with the key it names one bucket (`docs/rate-limits.md`).
public enum RateLimitKind: String, Sendable, CaseIterable {
    /// One API key.
    case key
    /// One signed-in user (a principal without a key).
    case user
    /// All of one tenant's callers together.
    case tenant
    /// Sign-in attempts, per account or per client address.
    case login
    /// The public customer chat: one visitor's messages, one address's messages, one address's new conversations.
    case chatVisitor = "chat_visitor"
    case chatAddress = "chat_address"
    case chatSessions = "chat_sessions"

    /// What was too much, for the 429's message.
    var words: String {
        switch self {
        case .key: "requests with this API key"
        case .user: "requests by this user"
        case .tenant: "requests for this workspace"
        case .login: "sign-in attempts"
        case .chatVisitor: "messages and files from this visitor in a minute"
        case .chatAddress: "messages from this address in a minute"
        case .chatSessions: "new conversations from this address"
        }
    }
}

/// One bucket to draw a token from.
public struct RateLimitCheck: Sendable, Equatable {
    public var kind: RateLimitKind
    public var key: String
    public var rule: TokenBucketRule

    public init(_ kind: RateLimitKind, key: String, rule: TokenBucketRule) {
        self.kind = kind
        self.key = key
        self.rule = rule
    }
}

/// What a bucket answered; the `RateLimit-*` headers are made from it.
public struct RateLimitDecision: Sendable, Equatable {
    public var kind: RateLimitKind
    public var allowed: Bool
    /// The bucket's capacity (`RateLimit-Limit`).
    public var limit: Int
    /// Whole tokens left after this request (`RateLimit-Remaining`).
    public var remaining: Int
    /// Seconds until the bucket is full again (`RateLimit-Reset`).
    public var resetSeconds: Int
    /// Seconds until the next token, when refused (`Retry-After`); 0 when allowed.
    public var retryAfterSeconds: Int

    /// The answer for a bucket holding `tokens` after the request (refill and take included).
    init(kind: RateLimitKind, rule: TokenBucketRule, allowed: Bool, tokens: Double) {
        self.kind = kind
        self.allowed = allowed
        limit = rule.capacity
        remaining = max(0, Int(tokens.rounded(.down)))
        // Whole seconds, rounded up (less floating-point noise, so 60.000000001 s reads 60).
        func seconds(_ tokens: Double) -> Int { Int((tokens / rule.refillPerSecond - TokenBucketMath.epsilon).rounded(.up)) }
        resetSeconds = max(0, seconds(Double(rule.capacity) - tokens))
        retryAfterSeconds = allowed ? 0 : max(1, seconds(1 - tokens))
    }
}

/// The token-bucket arithmetic both limiters share (PostgreSQL's statement spells the same in SQL).
enum TokenBucketMath {
    /// Rounding slack, so a bucket refilled to 0.9999999999 tokens by floating point still pays one.
    static let epsilon = 1e-9

    /// `tokens` last written at `at`: refilled up to `now`, then one taken when there is one.
    static func take(tokens: Double, at: Double, now: Double, rule: TokenBucketRule) -> (allowed: Bool, tokens: Double) {
        let refilled = min(Double(rule.capacity), tokens + max(0, now - at) * rule.refillPerSecond)
        return refilled >= 1 - epsilon ? (true, max(0, refilled - 1)) : (false, refilled)
    }
}

/// Token buckets keyed by (kind, key). A call's checks pass or fail together: when one bucket
/// is empty, the others keep their tokens (a key over its limit does not drain its tenant's
/// bucket). SQLite installations count in the process (`InProcessRateLimiter`);
/// PostgreSQL ones in the database, so every replica sees the same buckets (`PostgresRateLimiter`).
public protocol RateLimiter: Sendable {
    /// The installation's rules for each kind (tenants' overrides are applied by the caller).
    var rules: RateLimitRules { get }
    /// Takes one token from each bucket, or none when any is empty; the decisions come back in
    /// the order of `checks`.
    func take(_ checks: [RateLimitCheck]) async throws -> [RateLimitDecision]
}

extension RateLimiter {
    /// One token from the installation's bucket of `kind` for `key`, e.g.
    /// `try await limiter.check(.login, key: address)`; nil when limits are off.
    public func check(_ kind: RateLimitKind, key: String) async throws -> RateLimitDecision? {
        guard rules.enabled else { return nil }
        return try await take([RateLimitCheck(kind, key: key, rule: rules.rule(for: kind))]).first
    }

    /// Like `check`, but refuses with `RateLimited` (429 `rate_limited` with `Retry-After` and
    /// the `RateLimit-*` headers) when the bucket is empty.
    @discardableResult
    public func enforce(_ kind: RateLimitKind, key: String, tenantID: String?) async throws -> RateLimitDecision? {
        try await enforce([(kind, key)], tenantID: tenantID).first
    }

    /// One token from each of the installation's buckets, or none and `RateLimited` for the first
    /// empty one; nothing when limits are off.
    @discardableResult
    public func enforce(_ buckets: [(kind: RateLimitKind, key: String)], tenantID: String?) async throws -> [RateLimitDecision] {
        guard rules.enabled else { return [] }
        let decisions = try await take(buckets.map { RateLimitCheck($0.kind, key: $0.key, rule: rules.rule(for: $0.kind)) })
        if let refused = decisions.first(where: { !$0.allowed }) { throw RateLimited(refused, tenantID: tenantID) }
        return decisions
    }
}

/// The installation's rule for each kind: the API's from `RateLimitSettings`, the public chat's
/// from `CustomerChatSettings`.
public struct RateLimitRules: Sendable, Equatable {
    public var settings: RateLimitSettings
    public var chat: CustomerChatSettings

    public init(settings: RateLimitSettings, chat: CustomerChatSettings) {
        self.settings = settings
        self.chat = chat
    }

    public var enabled: Bool { settings.enabled }

    public func rule(for kind: RateLimitKind) -> TokenBucketRule {
        switch kind {
        case .key, .user: settings.key
        case .tenant: settings.tenant
        case .login: settings.login
        case .chatVisitor: TokenBucketRule(capacity: chat.messagesPerMinute, per: chat.messagesPerMinute, seconds: 60)
        case .chatAddress: TokenBucketRule(capacity: chat.addressMessagesPerMinute, per: chat.addressMessagesPerMinute, seconds: 60)
        case .chatSessions: TokenBucketRule(capacity: chat.sessionsPerHour, per: chat.sessionsPerHour, seconds: 3600)
        }
    }
}

/// A refusal for going too fast: 429 `rate_limited`; the HTTP layer adds `Retry-After` and the
/// `RateLimit-*` headers from the decision and counts it per tenant and bucket.
public struct RateLimited: Error, Sendable {
    public var decision: RateLimitDecision
    public var tenantID: String?

    public init(_ decision: RateLimitDecision, tenantID: String?) {
        self.decision = decision
        self.tenantID = tenantID
    }

    public var error: ParleyError {
        ParleyError(.tooManyRequests, code: "rate_limited",
                    "too many \(decision.kind.words); try again in \(decision.retryAfterSeconds) s")
    }
}

public enum RateLimiters {
    /// The limiter for the store's database: shared through PostgreSQL, in process on SQLite.
    public static func make(store: any Store, clock: any Clock, rules: RateLimitRules) -> any RateLimiter {
        switch store.kind {
        case .postgres: PostgresRateLimiter(store: store, clock: clock, rules: rules)
        case .sqlite: InProcessRateLimiter(clock: clock, rules: rules)
        }
    }
}

// MARK: in process

/// Buckets in a Mutex-protected dictionary (SQLite installations run one process). At most
/// `maxBuckets` are kept: past that, full buckets are forgotten (they answer the same as a new
/// one), then the longest idle.
public final class InProcessRateLimiter: RateLimiter {
    private struct BucketID: Hashable { var kind: RateLimitKind; var key: String }
    private struct Bucket { var tokens: Double; var at: Double; var rule: TokenBucketRule }

    public let rules: RateLimitRules
    let clock: any Clock
    let maxBuckets: Int
    private let buckets = Mutex<[BucketID: Bucket]>([:])

    public init(clock: any Clock, rules: RateLimitRules, maxBuckets: Int? = nil) {
        self.clock = clock
        self.rules = rules
        self.maxBuckets = max(1, maxBuckets ?? rules.settings.maxBuckets)
    }

    public var count: Int { buckets.withLock { $0.count } }

    public func take(_ checks: [RateLimitCheck]) async throws -> [RateLimitDecision] {
        let now = clock.now().timeIntervalSince1970
        return buckets.withLock { all in
            // Worked out on the side, written only when every bucket had a token.
            var changed: [BucketID: Bucket] = [:]
            let decisions = checks.map { check in
                let id = BucketID(kind: check.kind, key: check.key)
                let old = changed[id] ?? all[id]
                let result = TokenBucketMath.take(tokens: old?.tokens ?? Double(check.rule.capacity), at: old?.at ?? now, now: now, rule: check.rule)
                changed[id] = Bucket(tokens: result.tokens, at: max(old?.at ?? now, now), rule: check.rule)
                return RateLimitDecision(kind: check.kind, rule: check.rule, allowed: result.allowed, tokens: result.tokens)
            }
            guard decisions.allSatisfy(\.allowed) else { return decisions }
            for (id, bucket) in changed {
                if all[id] == nil && all.count >= maxBuckets { Self.evict(&all, now: now, keep: maxBuckets) }
                all[id] = bucket
            }
            return decisions
        }
    }

    /// Makes room for a tenth of `keep`: full buckets first, then the longest idle.
    private static func evict(_ all: inout [BucketID: Bucket], now: Double, keep: Int) {
        all = all.filter { $0.value.tokens + max(0, now - $0.value.at) * $0.value.rule.refillPerSecond < Double($0.value.rule.capacity) }
        let target = keep - max(1, keep / 10)
        guard all.count > target else { return }
        for (id, _) in all.sorted(by: { $0.value.at < $1.value.at }).prefix(all.count - target) { all[id] = nil }
    }
}

// MARK: PostgreSQL

/// The buckets of every replica (`docs/rate-limits.md`).
public enum RateLimitSchema {
    public static let migrations: [Migration] = [
        Migration("0020_rate_limits", [
            // Unlogged on PostgreSQL: cheap writes; a crash empties it, which only forgives some requests.
            // (SQLite installations count in process and leave it empty.)
            """
            CREATE %UNLOGGED% TABLE rate_limit_buckets (
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                tokens DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                capacity %BIGINT% NOT NULL,
                refill DOUBLE PRECISION NOT NULL,
                allowed %BOOL% NOT NULL,
                PRIMARY KEY (kind, key)
            )
            """,
            """
            CREATE TABLE tenant_rate_limits (
                tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
                key_capacity %BIGINT%,
                key_per_minute %BIGINT%,
                tenant_capacity %BIGINT%,
                tenant_per_minute %BIGINT%,
                updated_at %TIMESTAMP% NOT NULL
            )
            """,
        ]),
    ]
}

/// Buckets in PostgreSQL, shared by every replica: one statement per request refills and takes a
/// token from each of its buckets at once (an UPSERT, atomic per row) and returns what is left.
/// Buckets that are full again are deleted now and then, so the table holds the active callers only.
public final class PostgresRateLimiter: RateLimiter {
    public let rules: RateLimitRules
    let store: any Store
    let clock: any Clock
    private let lastPrune = Mutex<Double>(0)
    public static let pruneEverySeconds = 600.0

    public init(store: any Store, clock: any Clock, rules: RateLimitRules) {
        self.store = store
        self.clock = clock
        self.rules = rules
    }

    public func take(_ checks: [RateLimitCheck]) async throws -> [RateLimitDecision] {
        guard !checks.isEmpty else { return [] }
        // One statement may not change a row twice: the same bucket twice goes one at a time.
        if Set(checks.map { "\($0.kind.rawValue)|\($0.key)" }).count < checks.count {
            var out: [RateLimitDecision] = []
            for c in checks { out += try await take([c]) }
            return out
        }
        let now = clock.now().timeIntervalSince1970
        try await pruneIfDue(now)
        // Rows locked in one order by every statement, so two requests never wait on each other in a cycle.
        let ordered = checks.sorted { ($0.kind.rawValue, $0.key) < ($1.kind.rawValue, $1.key) }
        let rows = SQLList(ordered.map { c in
            SQLGroupExpression([SQLBind(c.kind.rawValue), SQLBind(c.key), SQLBind(Double(c.rule.capacity) - 1), SQLBind(now),
                                SQLBind(c.rule.capacity), SQLBind(c.rule.refillPerSecond), SQLLiteral.boolean(true)])
        })
        // SET reads the row as it was: `refilled` below is the old tokens plus what the time since refilled.
        let refilled = "LEAST(EXCLUDED.capacity, b.tokens + GREATEST(0, EXCLUDED.updated_at - b.updated_at) * EXCLUDED.refill)"
        let enough = "\(refilled) >= \(1 - TokenBucketMath.epsilon)"
        let found = try await store.read { db in
            try await db.raw("""
                INSERT INTO rate_limit_buckets AS b (kind, key, tokens, updated_at, capacity, refill, allowed) VALUES \(rows)
                ON CONFLICT (kind, key) DO UPDATE SET
                    tokens = CASE WHEN \(unsafeRaw: enough) THEN \(unsafeRaw: refilled) - 1 ELSE \(unsafeRaw: refilled) END,
                    allowed = \(unsafeRaw: enough),
                    updated_at = GREATEST(b.updated_at, EXCLUDED.updated_at),
                    capacity = EXCLUDED.capacity, refill = EXCLUDED.refill
                RETURNING kind, key, tokens, allowed
                """).all().map { row in
                (kind: try row.decode(column: "kind", as: String.self), key: try row.decode(column: "key", as: String.self),
                 tokens: try row.decode(column: "tokens", as: Double.self), allowed: try row.decode(column: "allowed", as: Bool.self))
            }
        }
        let decisions = try checks.map { c in
            guard let row = found.first(where: { $0.kind == c.kind.rawValue && $0.key == c.key }) else {
                throw StoreError.query("the rate limit statement returned no row for \(c.kind.rawValue)")
            }
            return RateLimitDecision(kind: c.kind, rule: c.rule, allowed: row.allowed, tokens: row.tokens)
        }
        // A refusal hands back the tokens the other buckets gave (a second statement, on refusals only).
        let charged = decisions.filter(\.allowed)
        if charged.count < decisions.count, !charged.isEmpty {
            let keys = SQLList(zip(checks, decisions).filter { $0.1.allowed }.map { c, _ in
                SQLGroupExpression([SQLBind(c.kind.rawValue), SQLBind(c.key)])
            })
            try await store.read { db in
                try await db.raw("UPDATE rate_limit_buckets SET tokens = LEAST(capacity, tokens + 1) WHERE (kind, key) IN (\(keys))").run()
            }
        }
        return decisions
    }

    /// Deletes the buckets that are full again, at most every ten minutes per process.
    private func pruneIfDue(_ now: Double) async throws {
        let due = lastPrune.withLock { last in
            guard now - last >= Self.pruneEverySeconds || now < last else { return false }
            last = now
            return true
        }
        guard due else { return }
        try await store.read { db in
            try await db.raw("DELETE FROM rate_limit_buckets WHERE tokens + GREATEST(0, \(bind: now) - updated_at) * refill >= capacity").run()
        }
    }

    /// How many buckets the table holds (tests, the benchmark).
    public func count() async throws -> Int {
        try await store.read { db in
            try await db.raw("SELECT COUNT(*) AS n FROM rate_limit_buckets").first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }
}
