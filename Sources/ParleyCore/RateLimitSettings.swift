/// One token bucket: up to `capacity` requests at once, refilled by `refillPerSecond` tokens a
/// second (`docs/rate-limits.md`).
public struct TokenBucketRule: Sendable, Hashable {
    public var capacity: Int
    public var refillPerSecond: Double

    public init(capacity: Int, refillPerSecond: Double) {
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
    }

    /// `capacity` at once, `count` more every `seconds` (a minute, an hour).
    public init(capacity: Int, per count: Int, seconds: Double) {
        self.init(capacity: capacity, refillPerSecond: Double(count) / seconds)
    }

    /// The refill as whole requests per minute, as the API and the settings write it.
    public var perMinute: Int { Int((refillPerSecond * 60).rounded()) }
}

/// The installation's request limits (`docs/configuration.md`, "Rate limits"). Tenants may set
/// their own key and tenant buckets (`PUT /v1/tenant/limits`).
public struct RateLimitSettings: Sendable, Equatable {
    /// Off: no bucket is checked (the public chat's and login's included).
    public var enabled: Bool
    /// Each API key (or signed-in user) on its own.
    public var key: TokenBucketRule
    /// All of a tenant's callers together.
    public var tenant: TokenBucketRule
    /// Sign-in attempts per account or client address.
    public var login: TokenBucketRule
    /// How many buckets a process keeps in memory (SQLite installations); the idle ones go first.
    public var maxBuckets: Int

    public init(enabled: Bool = true,
                key: TokenBucketRule = .init(capacity: 600, per: 600, seconds: 60),
                tenant: TokenBucketRule = .init(capacity: 3000, per: 3000, seconds: 60),
                login: TokenBucketRule = .init(capacity: 10, per: 5, seconds: 60),
                maxBuckets: Int = 100_000) {
        self.enabled = enabled
        self.key = key
        self.tenant = tenant
        self.login = login
        self.maxBuckets = maxBuckets
    }

    /// The bounds every bucket's figures must keep, in the settings and in tenants' overrides.
    public static let capacityRange = 1...1_000_000
    public static let perMinuteRange = 1...6_000_000
}

extension ParleyConfig {
    static func rateLimits(_ reader: ConfigReader) throws(ConfigError) -> RateLimitSettings {
        func rule(_ name: String, capacity: Int, perMinute: Int) throws(ConfigError) -> TokenBucketRule {
            TokenBucketRule(capacity: try reader.int("PARLEY_RATE_LIMIT_\(name)_BURST", default: capacity, range: RateLimitSettings.capacityRange),
                            per: try reader.int("PARLEY_RATE_LIMIT_\(name)_PER_MINUTE", default: perMinute, range: RateLimitSettings.perMinuteRange),
                            seconds: 60)
        }
        return RateLimitSettings(
            enabled: try reader.string("PARLEY_RATE_LIMITS", default: "on", accepts: "on or off") { ["on", "off"].contains($0.lowercased()) }.lowercased() == "on",
            key: try rule("KEY", capacity: 600, perMinute: 600),
            tenant: try rule("TENANT", capacity: 3000, perMinute: 3000),
            login: try rule("LOGIN", capacity: 10, perMinute: 5),
            maxBuckets: try reader.int("PARLEY_RATE_LIMIT_MAX_BUCKETS", default: 100_000, range: 1_000...10_000_000))
    }
}
