import Crypto
import Foundation
import Logging

public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case invalid(setting: String, value: String, accepts: String)
    case unreadableFile(path: String, reason: String)

    /// One line naming the setting and what it accepts.
    public var description: String {
        switch self {
        case .invalid(let setting, let value, let accepts):
            // A mistyped secret is still a secret: name the setting, not its value.
            let secret = ["KEY", "TOKEN", "SECRET", "PASSWORD"].contains { setting.uppercased().contains($0) } && !value.isEmpty
            return "invalid \(setting)=\"\(secret ? "(hidden, \(value.count) characters)" : value)\": accepts \(accepts)"
        case .unreadableFile(let path, let reason):
            return "cannot read configuration file \(path): \(reason)"
        }
    }
}

public enum LogFormat: String, Sendable { case text, json }

/// Every setting Parley reads, resolved once at start-up. `docs/configuration.md` lists them.
public struct ParleyConfig: Sendable {
    public var databaseURL: DatabaseURL
    public var host: String
    public var port: Int
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    public var maxBodyBytes: Int
    public var adminKey: String?
    /// The IANA zone of the tenant created at first start (its quiet hours and schedules).
    public var defaultTimeZone: String
    public var dbMaxConnections: Int
    public var dbTimeoutMilliseconds: Int
    public var sqliteBusyTimeoutMilliseconds: Int
    public var publicURL: String?
    /// The installation key (base64, 32 bytes); when absent, `secretKeyFile` holds it.
    public var secretKey: String?
    public var secretKeyFile: String
    /// Where tenants' files live (the built-in filesystem MCP server's sandboxes: `tenants/<id>/files`).
    public var filesDirectory: String = "parley-files"
    /// Web console sessions: signed out after this long without a request, and after the maximum in any case.
    public var sessionIdleMinutes: Int
    public var sessionMaxDays: Int
    public var models: ModelSettings
    public var agent: AgentLimits
    public var jobs: JobSettings
    /// Where the settings came from, so each installed pack reads its own settings from the same
    /// layers (flags > environment > env file > defaults) with the same validation messages.
    public var sources: ConfigSources
    /// HTTP connection timeouts, the per-address cap and the shutdown grace period.
    public var transport = TransportSettings()
    /// The public customer chat page's rate and size limits.
    public var customerChat = CustomerChatSettings()
    /// Token buckets per API key, per tenant and for sign-in (`docs/rate-limits.md`).
    public var rateLimits = RateLimitSettings()
    /// People's accounts: token lifetimes and keys, password hashing, sign-in throttling.
    public var accounts = AccountSettings()
    /// Tenants' MCP servers: which stdio commands may run, default limits (docs/mcp.md).
    public var mcp = MCPClientSettings()
    /// How long soft-deleted resources stay restorable before the maintenance task purges them.
    public var retention = Retention()
}

/// The communications queue's worker (seed 003's names).
public struct JobSettings: Sendable {
    public var pollIntervalMilliseconds: Int
    public var maxConcurrentJobs: Int
    public var maxRetries: Int
    public var retryDelayMinutes: Int
    /// How long a claimed job is leased; a worker that stops heartbeating loses it after this.
    public var leaseSeconds: Int
    /// How often the scheduler looks for due recurring tasks.
    public var schedulerTickSeconds: Int
    /// Whether `serve` also runs the worker and the scheduler (off when `parley worker` processes do).
    public var serveRunsWorker: Bool
    /// Email over SMTP instead of the outbox; the URL carries credentials (never logged).
    public var smtpURL: String?
    public var emailFrom: String?
    /// Which way out: `outbox`, `smtp`, `sendgrid`, `resend` for email; `outbox`, `twilio` for SMS.
    public var emailProvider: String
    public var smsProvider: String
    /// Provider credentials and endpoints (secrets are never logged).
    public var providerSettings: [String: String]
    /// `PARLEY_OUTBOUND_ALLOW`: the non-public addresses and hosts tenants' own provider endpoints
    /// may reach (none by default). The installation's own providers are trusted as configured.
    public var outbound: OutboundPolicy = .publicOnly
}

/// Which model providers to use, in failover order; the offline planner is always last.
public struct ModelSettings: Sendable {
    public var anthropicAPIKey: String?
    public var anthropicModel: String
    public var anthropicBaseURL: String
    public var openAIAPIKey: String?
    public var openAIBaseURL: String?
    public var openAIModel: String
    /// Per model call; a call that takes longer fails over.
    public var timeoutSeconds: Int
    /// Providers to try, e.g. ["anthropic", "openai"]; empty means every configured one.
    public var order: [String]
    /// Whether templates marked `personalize` are rewritten by the model (only when a provider is
    /// configured: the offline planner does not write).
    public var personalize: Bool
    /// The deadline of one personalisation; past it the template's plain rendering is sent.
    public var personalizeTimeoutMilliseconds: Int
}

/// Bounds on agent runs and their streams.
public struct AgentLimits: Sendable {
    public var maxIterations: Int
    public var runTimeoutSeconds: Int
    public var contextTokens: Int
    public var maxMessageCharacters: Int
    public var heartbeatSeconds: Int
    public var streamBuffer: Int
}

/// Layers, highest first: command-line flags, process environment, the env file (`.env` in the
/// working directory or `--env-file`), built-in defaults. Names follow the seeds where they exist.
public struct ConfigSources: Sendable {
    public var flags: [String: String]
    public var environment: [String: String]
    public var file: [String: String]

    public init(flags: [String: String] = [:], environment: [String: String] = [:], file: [String: String] = [:]) {
        self.flags = flags
        self.environment = environment
        self.file = file
    }

    public func value(_ key: String) -> String? {
        for layer in [flags, environment, file] {
            if let v = layer[key], !v.isEmpty { return v }
        }
        return nil
    }

    /// Reads `KEY=VALUE` lines; `#` comments, `export` prefixes and single or double quotes allowed.
    public static func parseEnvFile(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let f = value.first, f == "\"" || f == "'", value.last == f {
                value = String(value.dropFirst().dropLast())
            }
            out[key] = value
        }
        return out
    }

    public static func loadEnvFile(path: String, required: Bool) throws(ConfigError) -> [String: String] {
        guard FileManager.default.fileExists(atPath: path) else {
            if required { throw .unreadableFile(path: path, reason: "no such file") }
            return [:]
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .unreadableFile(path: path, reason: "not readable UTF-8 text")
        }
        return parseEnvFile(text)
    }
}

extension ParleyConfig {
    public static func load(_ sources: ConfigSources) throws(ConfigError) -> ParleyConfig {
        let reader = ConfigReader(sources: sources)
        let urlText = sources.value("DATABASE_URL") ?? "sqlite://parley.db"
        let databaseURL: DatabaseURL
        switch DatabaseURL.parse(urlText) {
        case .success(let url): databaseURL = url
        case .failure(let error): throw error
        }
        var config = ParleyConfig(
            databaseURL: databaseURL,
            host: try reader.string("HOST", default: "127.0.0.1", accepts: "a host name or IP address") { !$0.contains(where: \.isWhitespace) },
            port: try reader.int("PORT", default: 8080, range: 0...65535),
            logLevel: try reader.choice("LOG_LEVEL", default: .info),
            logFormat: try reader.choice("LOG_FORMAT", default: .text),
            maxBodyBytes: try reader.bytes("PARLEY_MAX_BODY_BYTES", default: 1 << 20),
            adminKey: try reader.optional("PARLEY_ADMIN_KEY", accepts: "a secret of at least \(APIKeySecret.minimumLength) characters without whitespace") {
                APIKeySecret.validatePreset($0) == nil
            },
            defaultTimeZone: try reader.string("PARLEY_TIME_ZONE", default: "UTC", accepts: "an IANA time zone such as America/Chicago") {
                TimeZone(identifier: $0) != nil
            },
            dbMaxConnections: try reader.int("PARLEY_DB_MAX_CONNECTIONS", default: 10, range: 1...1000),
            dbTimeoutMilliseconds: try reader.int("PARLEY_DB_TIMEOUT_MS", default: 5000, range: 100...600_000),
            sqliteBusyTimeoutMilliseconds: try reader.int("PARLEY_SQLITE_BUSY_TIMEOUT_MS", default: 5000, range: 0...600_000),
            publicURL: try reader.optional("PARLEY_PUBLIC_URL", accepts: "an absolute http(s) URL") {
                guard let u = URL(string: $0), let s = u.scheme else { return false }
                return (s == "http" || s == "https") && u.host != nil
            },
            secretKey: try reader.optional("PARLEY_SECRET_KEY", accepts: "32 random bytes in base64 (openssl rand -base64 32)") {
                Keyring.parse($0) != nil
            },
            secretKeyFile: try reader.string("PARLEY_SECRET_KEY_FILE", default: Self.defaultKeyFile(databaseURL), accepts: "a file path") { !$0.isEmpty },
            filesDirectory: try reader.string("PARLEY_FILES_DIR", default: Self.besideDatabase(databaseURL, "parley-files"), accepts: "a directory path") { !$0.isEmpty },
            sessionIdleMinutes: try reader.int("PARLEY_SESSION_IDLE_MINUTES", default: 720, range: 1...525_600),
            sessionMaxDays: try reader.int("PARLEY_SESSION_MAX_DAYS", default: 7, range: 1...365),
            models: ModelSettings(
                anthropicAPIKey: sources.value("ANTHROPIC_API_KEY"),
                anthropicModel: try reader.string("ANTHROPIC_MODEL", default: "claude-sonnet-4-5", accepts: "a model name") { !$0.contains(where: \.isWhitespace) },
                anthropicBaseURL: try reader.string("ANTHROPIC_BASE_URL", default: "https://api.anthropic.com", accepts: "an absolute http(s) URL", valid: Self.isHTTPURL),
                openAIAPIKey: sources.value("OPENAI_API_KEY"),
                openAIBaseURL: try reader.optional("OPENAI_BASE_URL", accepts: "an absolute http(s) URL such as http://127.0.0.1:11434/v1", valid: Self.isHTTPURL),
                openAIModel: try reader.string("OPENAI_MODEL", default: "gpt-4o-mini", accepts: "a model name") { !$0.contains(where: \.isWhitespace) },
                timeoutSeconds: try reader.int("PARLEY_MODEL_TIMEOUT_SECONDS", default: 120, range: 1...3600),
                order: try reader.list("PARLEY_MODEL_PROVIDERS", allowed: ["anthropic", "openai"]),
                personalize: ["on", "true"].contains(try reader.string("PARLEY_PERSONALIZE", default: "on", accepts: "on or off (true or false)") {
                    ["on", "off", "true", "false"].contains($0.lowercased())
                }.lowercased()),
                personalizeTimeoutMilliseconds: try reader.int("PARLEY_PERSONALIZE_TIMEOUT_MS", default: 4000, range: 50...120_000)
            ),
            agent: AgentLimits(
                maxIterations: try reader.int("PARLEY_AGENT_MAX_ITERATIONS", default: 10, range: 1...100),
                runTimeoutSeconds: try reader.int("PARLEY_AGENT_TIMEOUT_SECONDS", default: 300, range: 1...86_400),
                contextTokens: try reader.int("PARLEY_AGENT_CONTEXT_TOKENS", default: 8000, range: 100...1_000_000),
                maxMessageCharacters: try reader.int("PARLEY_MAX_MESSAGE_CHARS", default: 32_000, range: 1...1_000_000),
                heartbeatSeconds: try reader.int("PARLEY_HEARTBEAT_SECONDS", default: 30, range: 1...3600),
                streamBuffer: try reader.int("PARLEY_STREAM_BUFFER", default: 1000, range: 10...1_000_000)
            ),
            jobs: JobSettings(
                pollIntervalMilliseconds: try reader.int("POLL_INTERVAL_MS", default: 5000, range: 50...3_600_000),
                maxConcurrentJobs: try reader.int("MAX_CONCURRENT_JOBS", default: 5, range: 1...1000),
                maxRetries: try reader.int("MAX_RETRIES", default: 3, range: 0...100),
                retryDelayMinutes: try reader.int("RETRY_DELAY_MINUTES", default: 5, range: 0...10_080),
                leaseSeconds: try reader.int("PARLEY_JOB_LEASE_SECONDS", default: 30, range: 1...3600),
                schedulerTickSeconds: try reader.int("PARLEY_SCHEDULER_TICK_SECONDS", default: 5, range: 1...3600),
                serveRunsWorker: try reader.string("PARLEY_SERVE_WORKER", default: "true", accepts: "true or false") { ["true", "false"].contains($0) } == "true",
                smtpURL: try reader.optional("PARLEY_SMTP_URL", accepts: "smtp://USER:PASSWORD@HOST:PORT, smtps://... or smtp+insecure://HOST:PORT") {
                    guard let u = URLComponents(string: $0), let scheme = u.scheme?.lowercased(), let host = u.host, !host.isEmpty else { return false }
                    return ["smtp", "smtps", "smtp+insecure"].contains(scheme)
                },
                emailFrom: try reader.optional("PARLEY_EMAIL_FROM", accepts: "a sender such as 'Acme <no-reply@acme.example>'") {
                    $0.contains("@") && !$0.contains(where: \.isNewline)
                },
                emailProvider: try reader.string("PARLEY_EMAIL_PROVIDER", default: sources.value("PARLEY_SMTP_URL") != nil ? "smtp" : "outbox",
                                                 accepts: "outbox, smtp, sendgrid or resend") { ["outbox", "smtp", "sendgrid", "resend"].contains($0) },
                smsProvider: try reader.string("PARLEY_SMS_PROVIDER", default: sources.value("TWILIO_ACCOUNT_SID") != nil ? "twilio" : "outbox",
                                               accepts: "outbox or twilio") { ["outbox", "twilio"].contains($0) },
                providerSettings: Dictionary(uniqueKeysWithValues: [
                    "SENDGRID_API_KEY", "RESEND_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM",
                    "PARLEY_SENDGRID_BASE_URL", "PARLEY_RESEND_BASE_URL", "PARLEY_TWILIO_BASE_URL", "PARLEY_TWILIO_STATUS_CALLBACK",
                    "PARLEY_SENDGRID_WEBHOOK_PUBLIC_KEY", "PARLEY_RESEND_WEBHOOK_SECRET",
                ].compactMap { key in sources.value(key).map { (key, $0) } }),
                outbound: try OutboundPolicy.parse(reader.string("PARLEY_OUTBOUND_ALLOW", default: "",
                                                                 accepts: "a comma-separated list of CIDR blocks, IP addresses and host names (e.g. 10.0.0.0/8,mail.internal)") {
                    OutboundPolicy.parse($0) != nil
                }) ?? .publicOnly
            ),
            sources: sources
        )
        config.transport = try transport(reader)
        config.customerChat = try customerChat(reader)
        config.rateLimits = try rateLimits(reader)
        config.accounts = try accounts(reader)
        config.mcp = try mcpClient(reader)
        config.retention = Retention(days: try reader.int("PARLEY_RETENTION_DAYS", default: 30, range: 1...36_500))
        // Webhook verification keys: a malformed one would refuse every webhook, so it stops start-up instead.
        _ = try reader.optional("PARLEY_SENDGRID_WEBHOOK_PUBLIC_KEY", accepts: "SendGrid's verification key: a base64 DER P-256 public key") {
            Data(base64Encoded: $0.trimmingCharacters(in: .whitespaces)).flatMap { try? P256.Signing.PublicKey(derRepresentation: $0) } != nil
        }
        _ = try reader.optional("PARLEY_RESEND_WEBHOOK_SECRET", accepts: "Resend's signing secret, whsec_ followed by base64") {
            $0.hasPrefix("whsec_") && Data(base64Encoded: String($0.dropFirst(6))).map { !$0.isEmpty } == true
        }
        if config.jobs.emailProvider != "outbox" && config.jobs.emailFrom == nil {
            throw .invalid(setting: "PARLEY_EMAIL_FROM", value: "", accepts: "a sender address, required when email goes to \(config.jobs.emailProvider)")
        }
        let needs: [String: [String]] = [
            "smtp": ["PARLEY_SMTP_URL"], "sendgrid": ["SENDGRID_API_KEY"], "resend": ["RESEND_API_KEY"],
            "twilio": ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"],
        ]
        for provider in [config.jobs.emailProvider, config.jobs.smsProvider] {
            for key in needs[provider] ?? [] where sources.value(key) == nil {
                throw .invalid(setting: key, value: "", accepts: "a value, required when \(provider) delivers messages")
            }
        }
        return config
    }

    /// Beside the SQLite file, so the database and the key that opens its secrets travel together.
    static func defaultKeyFile(_ url: DatabaseURL) -> String { besideDatabase(url, "parley.key") }

    /// A path beside the SQLite file (so data files travel with the database), else relative to
    /// the working directory.
    public static func besideDatabase(_ url: DatabaseURL, _ name: String) -> String {
        guard case .sqlite(let path) = url else { return name }
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? name : dir + "/" + name
    }

    public static func isHTTPURL(_ text: String) -> Bool {
        guard let u = URL(string: text), let s = u.scheme else { return false }
        return (s == "http" || s == "https") && u.host != nil
    }
}

/// Reads settings with one message style: an invalid value names the setting and what it accepts.
public struct ConfigReader: Sendable {
    public let sources: ConfigSources

    public init(sources: ConfigSources) { self.sources = sources }

    public func list(_ key: String, allowed: [String]) throws(ConfigError) -> [String] {
        guard let v = sources.value(key) else { return [] }
        let items = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        guard !items.isEmpty, items.allSatisfy(allowed.contains) else {
            throw .invalid(setting: key, value: v, accepts: "a comma-separated list of " + allowed.joined(separator: ", "))
        }
        return items
    }

    public func string(_ key: String, default def: String, accepts: String, valid: (String) -> Bool) throws(ConfigError) -> String {
        guard let v = sources.value(key) else { return def }
        guard valid(v) else { throw .invalid(setting: key, value: v, accepts: accepts) }
        return v
    }

    public func optional(_ key: String, accepts: String, valid: (String) -> Bool) throws(ConfigError) -> String? {
        guard let v = sources.value(key) else { return nil }
        guard valid(v) else { throw .invalid(setting: key, value: key.contains("KEY") ? "***" : v, accepts: accepts) }
        return v
    }

    public func int(_ key: String, default def: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let v = sources.value(key) else { return def }
        guard let n = Int(v.trimmingCharacters(in: .whitespaces)), range.contains(n) else {
            throw .invalid(setting: key, value: v, accepts: "an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    public func choice<T: RawRepresentable & CaseIterableChoice>(_ key: String, default def: T) throws(ConfigError) -> T where T.RawValue == String {
        guard let v = sources.value(key) else { return def }
        guard let c = T(rawValue: v.lowercased()) else {
            throw .invalid(setting: key, value: v, accepts: "one of " + T.choices.joined(separator: ", "))
        }
        return c
    }

    /// Plain bytes or with a unit: `512kb`, `2mb`, `1gb` (binary multiples).
    public func bytes(_ key: String, default def: Int) throws(ConfigError) -> Int {
        guard let v = sources.value(key) else { return def }
        let text = v.lowercased().trimmingCharacters(in: .whitespaces)
        let units: [(String, Int)] = [("kb", 1 << 10), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)]
        var multiplier = 1
        var digits = text
        for (suffix, m) in units where text.hasSuffix(suffix) {
            multiplier = m
            digits = String(text.dropLast(suffix.count))
            break
        }
        guard let n = Int(digits), n > 0, n <= (1 << 34) / multiplier else {
            throw .invalid(setting: key, value: v, accepts: "a positive size in bytes, optionally with kb, mb or gb (e.g. 1mb)")
        }
        return n * multiplier
    }
}

public protocol CaseIterableChoice {
    static var choices: [String] { get }
}

extension LogFormat: CaseIterableChoice {
    public static var choices: [String] { ["text", "json"] }
}

extension Logger.Level: CaseIterableChoice {
    public static var choices: [String] { Logger.Level.allCases.map(\.rawValue) }
}
