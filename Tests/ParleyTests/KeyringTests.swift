import Foundation
import ParleyCore
import ParleyPlatform
import ParleyStorage
import Testing

@Suite struct KeyringTests {
    @Test func sealedValuesOpenOnlyWithTheSameKeyPurposeAndContext() throws {
        let ring = Keyring.random()
        let sealed = try ring.seal("provider-credentials", Data("sk_live_123".utf8), context: "tenant-a")
        #expect(!sealed.contains("sk_live_123"))
        #expect(try ring.open("provider-credentials", sealed, context: "tenant-a") == Data("sk_live_123".utf8))
        #expect(throws: KeyringError.undecryptable) { try ring.open("provider-credentials", sealed, context: "tenant-b") }
        #expect(throws: KeyringError.undecryptable) { try ring.open("upload-links", sealed, context: "tenant-a") }
        #expect(throws: KeyringError.undecryptable) { try Keyring.random().open("provider-credentials", sealed, context: "tenant-a") }
        var tampered = Array(sealed)
        tampered[tampered.count / 2] = tampered[tampered.count / 2] == "A" ? "B" : "A"
        #expect(throws: KeyringError.undecryptable) { try ring.open("provider-credentials", String(tampered), context: "tenant-a") }
        #expect(throws: KeyringError.undecryptable) { try ring.open("provider-credentials", "garbage", context: "tenant-a") }
    }

    @Test func deterministicSealingRepeatsOnlyForTheSameInputAndOpensLikeAnyOther() throws {
        let ring = Keyring.random()
        let a = try ring.sealDeterministic("legal-upload-link", Data("t|c|1".utf8), context: "x")
        #expect(try ring.sealDeterministic("legal-upload-link", Data("t|c|1".utf8), context: "x") == a)
        #expect(try ring.sealDeterministic("legal-upload-link", Data("t|c|2".utf8), context: "x") != a)
        #expect(try ring.sealDeterministic("legal-upload-link", Data("t|c|1".utf8), context: "y") != a)
        #expect(try ring.sealDeterministic("legal-upload-link", Data("t|c|1".utf8), context: "x") != (try Keyring.random().sealDeterministic("legal-upload-link", Data("t|c|1".utf8), context: "x")))
        #expect(try ring.open("legal-upload-link", a, context: "x") == Data("t|c|1".utf8))
        #expect(throws: KeyringError.undecryptable) { try ring.open("legal-upload-link", a, context: "y") }
        #expect(!a.contains("t|c|1"))
    }

    @Test func macsAreBoundToPurposeAndKey() {
        let ring = Keyring.random()
        let mac = ring.mac("upload-links", Data("case-1".utf8))
        #expect(ring.verify("upload-links", mac: mac, for: Data("case-1".utf8)))
        #expect(!ring.verify("upload-links", mac: mac, for: Data("case-2".utf8)))
        #expect(!ring.verify("unsubscribe", mac: mac, for: Data("case-1".utf8)))
        #expect(!Keyring.random().verify("upload-links", mac: mac, for: Data("case-1".utf8)))
    }

    @Test func loadsFromSettingOrCreatesAPrivateKeyFileOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keyring-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("parley.key").path
        let (first, created) = try Keyring.load(configured: nil, file: file)
        #expect(created)
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let (again, createdAgain) = try Keyring.load(configured: nil, file: file)
        #expect(!createdAgain && again.checkValue == first.checkValue)

        let b64 = Data(repeating: 7, count: 32).base64EncodedString()
        #expect(try Keyring.load(configured: b64, file: file).keyring.checkValue != first.checkValue)
        #expect(throws: KeyringError.self) { try Keyring.load(configured: "c2hvcnQ=", file: file) }
        try Data("not a key".utf8).write(to: URL(fileURLWithPath: file))
        #expect(throws: KeyringError.self) { try Keyring.load(configured: nil, file: file) }
    }

    @Test func aMistypedSecretSettingIsNamedButNotPrinted() {
        #expect(throws: ConfigError.self) { try ParleyConfig.load(ConfigSources(environment: ["PARLEY_SECRET_KEY": "hunter2-not-base64"])) }
        do {
            _ = try ParleyConfig.load(ConfigSources(environment: ["PARLEY_SECRET_KEY": "hunter2-not-base64"]))
        } catch {
            #expect(error.description.contains("PARLEY_SECRET_KEY"))
            #expect(!error.description.contains("hunter2"))
        }
    }

    @Test func keyFileDefaultsToBesideTheSQLiteDatabase() throws {
        let config = try ParleyConfig.load(ConfigSources(environment: ["DATABASE_URL": "sqlite:///var/lib/parley/parley.db"]))
        #expect(config.secretKeyFile == "/var/lib/parley/parley.key")
        #expect(try ParleyConfig.load(ConfigSources(environment: [:])).secretKeyFile == "parley.key")
    }

    @Test(arguments: TestEnv.kinds)
    func aDatabaseIsBoundToTheFirstKeyThatUsesIt(_ kind: DatabaseKind) async throws {
        try await TestDatabases.withStore(kind) { (store: any Store) async throws in
            let check = InstanceKeyCheck(store: store, clock: TestClock())
            let ring = Keyring.random()
            #expect(try await check.verify(ring) == .recorded)
            #expect(try await check.verify(ring) == .matches)
            await #expect(throws: ParleyError.self) { try await check.verify(Keyring.random()) }
        }
    }
}
