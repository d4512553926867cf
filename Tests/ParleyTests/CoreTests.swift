import Foundation
import Logging
import ParleyCore
import Testing

@Suite struct UUIDv7Tests {
    @Test func isCanonicalVersion7AndSortsByTime() {
        let a = UUIDv7.make(at: Date(timeIntervalSince1970: 1_800_000_000))
        let b = UUIDv7.make(at: Date(timeIntervalSince1970: 1_800_000_000.002))
        #expect(UUIDv7.isValid(a))
        #expect(Array(a)[14] == "7")
        #expect(["8", "9", "a", "b"].contains(Array(a)[19]))
        #expect(a < b)
        #expect(a.lowercased() == a)
    }

    @Test func strictlyIncreasingWithinOneMillisecondAndWhenTheClockStepsBack() {
        let t = Date(timeIntervalSince1970: 1_900_000_000)
        var ids = (0..<5000).map { _ in UUIDv7.make(at: t) }
        ids.append(UUIDv7.make(at: t.addingTimeInterval(-10)))
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
    }
}

@Suite struct APIKeySecretTests {
    @Test func generatedKeysAreLongUniqueAndVerifyOnlyThemselves() {
        let k1 = APIKeySecret.generate(), k2 = APIKeySecret.generate()
        #expect(k1.hasPrefix("prk_") && k1.count == 47)
        #expect(APIKeySecret.displayPrefix(of: k1) == String(k1.prefix(12)))
        #expect(APIKeySecret.displayPrefix(of: "my-own-preset-secret-that-is-long-enough") == "preset")
        #expect(k1 != k2)
        let h = APIKeySecret.hash(k1)
        #expect(h != k1 && h.count == 64)
        #expect(APIKeySecret.matches(k1, hash: h))
        #expect(!APIKeySecret.matches(k2, hash: h))
        #expect(!APIKeySecret.matches(k1, hash: String(h.dropLast())))
    }

    @Test func presetKeysMustBeLongAndWithoutSpaces() {
        #expect(APIKeySecret.validatePreset("short") != nil)
        #expect(APIKeySecret.validatePreset(String(repeating: "a", count: 31) + " ") != nil)
        #expect(APIKeySecret.validatePreset(String(repeating: "a", count: 32)) == nil)
    }
}

@Suite struct RoleTests {
    @Test func permissionMatrix() {
        #expect(Permission.allCases.allSatisfy { Role.admin.allows($0) })
        #expect(!Role.operator.allows(.manageKeys) && !Role.operator.allows(.readAudit) && Role.operator.allows(.operate))
        #expect(Role.viewer.allows(.readTenant) && !Role.viewer.allows(.act) && !Role.viewer.allows(.manageKeys))
        #expect(Role.service.allows(.act) && !Role.service.allows(.operate) && !Role.service.allows(.readAudit))
        // A chat-page visitor may only talk; every role that may act may talk too; no key is a customer's.
        #expect(Permission.allCases.filter { Role.customer.allows($0) } == [.converse])
        #expect(Role.allCases.allSatisfy { $0.allows(.converse) == ($0.allows(.act) || $0 == .customer) })
        #expect(!Role.keyRoles.contains(.customer) && Role.keyRoles.count == Role.allCases.count - 1)
    }
}

@Suite struct DatabaseURLTests {
    @Test func parsesTheAcceptedForms() throws {
        #expect(try DatabaseURL.parse("sqlite://parley.db").get() == .sqlite(path: "parley.db"))
        #expect(try DatabaseURL.parse("sqlite:///var/lib/parley.db").get() == .sqlite(path: "/var/lib/parley.db"))
        #expect(try DatabaseURL.parse("sqlite::memory:").get() == .sqliteMemory)
        guard case .postgres(let t) = try DatabaseURL.parse("postgresql://app:s%40cret@db.internal:6543/parley?sslmode=require").get() else {
            Issue.record("expected postgres"); return
        }
        #expect(t.host == "db.internal" && t.port == 6543 && t.user == "app" && t.password == "s@cret" && t.database == "parley" && t.tls == .require)
        guard case .postgres(let d) = try DatabaseURL.parse("postgres://app@localhost/parley").get() else { Issue.record("expected postgres"); return }
        #expect(d.port == 5432 && d.password == nil && d.tls == .disable)
    }

    @Test(arguments: ["mysql://x@y/z", "sqlite://", "postgres://", "postgres://host/db", "postgres://u@host", "postgres://u@host:99999/db",
                      "postgres://u@host/db?sslmode=sometimes", "just text", ""])
    func rejectsMalformedURLsNamingTheSetting(_ raw: String) {
        guard case .failure(let error) = DatabaseURL.parse(raw) else { Issue.record("accepted \(raw)"); return }
        #expect(error.description.hasPrefix("invalid DATABASE_URL="))
        #expect(error.description.contains("accepts"))
    }

    @Test func percentEncodedCredentialsDecodeOnce() throws {
        guard case .postgres(let t) = try DatabaseURL.parse("postgres://app:p%2525w%40rd@h/db").get() else { Issue.record("expected postgres"); return }
        #expect(t.password == "p%25w@rd")
    }

    @Test func neverPrintsThePassword() {
        guard case .failure(let e) = DatabaseURL.parse("postgres://u:hunter2@") else { Issue.record("accepted"); return }
        #expect(!e.description.contains("hunter2"))
        guard case .failure(let error) = DatabaseURL.parse("postgres://u:hunter2@host") else { Issue.record("accepted"); return }
        #expect(!error.description.contains("hunter2"))
        let ok = try? DatabaseURL.parse("postgres://u:hunter2@host/db").get()
        #expect(ok.map { !$0.description.contains("hunter2") } == true)
    }
}

@Suite struct ConfigurationTests {
    @Test func defaults() throws {
        let c = try ParleyConfig.load(ConfigSources())
        #expect(c.databaseURL == .sqlite(path: "parley.db"))
        #expect(c.host == "127.0.0.1" && c.port == 8080)
        #expect(c.logLevel == .info && c.logFormat == .text)
        #expect(c.maxBodyBytes == 1 << 20)
        #expect(c.adminKey == nil)
    }

    @Test func flagsBeatEnvironmentBeatFileBeatDefaults() throws {
        let sources = ConfigSources(
            flags: ["PORT": "9001"],
            environment: ["PORT": "9002", "HOST": "0.0.0.0"],
            file: ["PORT": "9003", "HOST": "10.0.0.1", "LOG_FORMAT": "json"])
        let c = try ParleyConfig.load(sources)
        #expect(c.port == 9001 && c.host == "0.0.0.0" && c.logFormat == .json)
    }

    @Test func envFileSyntax() {
        let parsed = ConfigSources.parseEnvFile("""
            # comment
            export DATABASE_URL="sqlite://x.db"
            PORT = 9000
            LOG_LEVEL='debug'

            NOEQUALS
            """)
        #expect(parsed == ["DATABASE_URL": "sqlite://x.db", "PORT": "9000", "LOG_LEVEL": "debug"])
    }

    @Test func sizesAcceptUnits() throws {
        #expect(try ParleyConfig.load(ConfigSources(environment: ["PARLEY_MAX_BODY_BYTES": "2mb"])).maxBodyBytes == 2 << 20)
        #expect(try ParleyConfig.load(ConfigSources(environment: ["PARLEY_MAX_BODY_BYTES": "512kb"])).maxBodyBytes == 512 << 10)
        #expect(try ParleyConfig.load(ConfigSources(environment: ["PARLEY_MAX_BODY_BYTES": "1000"])).maxBodyBytes == 1000)
    }

    @Test(arguments: [
        ("PORT", "eighty"), ("PORT", "70000"), ("HOST", "a b"), ("LOG_LEVEL", "loud"), ("LOG_FORMAT", "xml"),
        ("PARLEY_MAX_BODY_BYTES", "-1"), ("PARLEY_MAX_BODY_BYTES", "lots"), ("PARLEY_ADMIN_KEY", "short"),
        ("PARLEY_DB_MAX_CONNECTIONS", "0"), ("PARLEY_DB_TIMEOUT_MS", "5"), ("PARLEY_PUBLIC_URL", "ftp://x"), ("DATABASE_URL", "oracle://x"),
    ])
    func invalidValuesNameTheSettingAndWhatItAccepts(_ key: String, _ value: String) {
        do {
            _ = try ParleyConfig.load(ConfigSources(environment: [key: value]))
            Issue.record("accepted \(key)=\(value)")
        } catch {
            #expect(error.description.hasPrefix("invalid \(key)="))
            #expect(error.description.contains("accepts"))
            #expect(!error.description.contains("\n"))
            if key == "PARLEY_ADMIN_KEY" { #expect(!error.description.contains(value)) }
        }
    }

    @Test func missingExplicitEnvFileIsAnError() {
        #expect(throws: ConfigError.self) { try ConfigSources.loadEnvFile(path: "/nonexistent/.env", required: true) }
        #expect((try? ConfigSources.loadEnvFile(path: "/nonexistent/.env", required: false)) == [:])
    }
}

extension Permission: CaseIterable {
    public static var allCases: [Permission] { [.readTenant, .act, .converse, .operate, .manageKeys, .readAudit] }
}
