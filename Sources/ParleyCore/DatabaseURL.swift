import Foundation

/// `DATABASE_URL`: `sqlite://relative/or/absolute.db`, `sqlite:///abs/path.db`, `sqlite::memory:`
/// or `postgres://user:pass@host:port/db` (also `postgresql://`; `?sslmode=disable|prefer|require`).
public enum DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case sqliteMemory
    case postgres(PostgresTarget)

    public struct PostgresTarget: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: String?
        public var database: String
        public var tls: TLSMode

        /// `require` encrypts without verifying the certificate (as libpq does); `verifyFull`
        /// also checks the certificate chain and host name.
        public enum TLSMode: String, Sendable { case disable, prefer, require, verifyFull = "verify-full" }

        public init(host: String, port: Int, user: String, password: String?, database: String, tls: TLSMode) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
            self.database = database
            self.tls = tls
        }
    }

    public static let accepted = "sqlite://PATH, sqlite::memory: or postgres://USER:PASSWORD@HOST:PORT/DATABASE"

    public static func parse(_ raw: String) -> Result<DatabaseURL, ConfigError> {
        let fail = { (why: String) in Result<DatabaseURL, ConfigError>.failure(.invalid(setting: "DATABASE_URL", value: redact(raw), accepts: "\(accepted) (\(why))")) }
        let text = raw.trimmingCharacters(in: .whitespaces)
        if text == "sqlite::memory:" || text == "sqlite://:memory:" { return .success(.sqliteMemory) }
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            if path.isEmpty { return fail("the SQLite path is empty") }
            return .success(.sqlite(path: path))
        }
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
            return fail("unknown scheme")
        }
        guard let comps = URLComponents(string: text), let host = comps.host, !host.isEmpty else {
            return fail("malformed URL")
        }
        if let p = comps.port, !(1...65535).contains(p) { return fail("port out of range") }
        guard let user = comps.user, !user.isEmpty else { return fail("missing user name") }
        let database = String(comps.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { return fail("missing database name") }
        var tls = PostgresTarget.TLSMode.disable
        if let mode = comps.queryItems?.first(where: { $0.name == "sslmode" })?.value {
            switch mode {
            case "disable", "allow": tls = .disable
            case "prefer": tls = .prefer
            case "require": tls = .require
            case "verify-ca", "verify-full": tls = .verifyFull
            default: return fail("unknown sslmode '\(mode)'")
            }
        }
        return .success(.postgres(.init(
            host: host, port: comps.port ?? 5432,
            user: user,
            password: comps.password,
            database: database, tls: tls)))
    }

    public var isPostgres: Bool { if case .postgres = self { return true } else { return false } }

    /// Safe to print: never includes the password.
    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite://\(path)"
        case .sqliteMemory: return "sqlite::memory:"
        case .postgres(let t): return "postgres://\(t.user)@\(t.host):\(t.port)/\(t.database)"
        }
    }

    /// Hides the password even in text too malformed to parse as a URL.
    static func redact(_ raw: String) -> String {
        guard let scheme = raw.range(of: "://"), let at = raw[scheme.upperBound...].lastIndex(of: "@") else { return raw }
        let userinfo = raw[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return raw }
        return String(raw[..<raw.index(after: colon)]) + "***" + String(raw[at...])
    }
}
