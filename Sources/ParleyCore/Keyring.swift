import Crypto
import Foundation

/// The installation's secret: one 256-bit key from which every purpose derives its own subkey
/// (HKDF), so a leaked upload-link MAC key says nothing about the key that encrypts provider
/// credentials. Replicas sharing a database must share this key.
public struct Keyring: Sendable {
    // Raw bytes: SymmetricKey is not Sendable.
    private let master: Data

    public init(key: SymmetricKey) {
        master = key.withUnsafeBytes { Data($0) }
    }

    /// A key for tests and throwaway databases; anything sealed with it dies with the process.
    public static func random() -> Keyring { Keyring(key: SymmetricKey(size: .bits256)) }

    /// The key as configured: 32 bytes, base64 (standard or URL alphabet, padding optional).
    public static func parse(_ text: String) -> Keyring? {
        var b64 = text.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b64.count % 4 != 0 { b64 += "=" }
        guard let data = Data(base64Encoded: b64), data.count == 32 else { return nil }
        return Keyring(key: SymmetricKey(data: data))
    }

    /// The configured key, else the key file, created (mode 0600) on first start.
    public static func load(configured: String?, file: String) throws(KeyringError) -> (keyring: Keyring, created: Bool) {
        if let configured {
            guard let ring = parse(configured) else { throw .invalid("PARLEY_SECRET_KEY must be 32 bytes in base64") }
            return (ring, false)
        }
        if let existing = try read(file) { return (existing, false) }
        // Two processes starting at once must end up with one key: write a private temp file,
        // then hard-link it into place, which fails if another process got there first.
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        let temp = "\(file).\(UUID().uuidString).tmp"
        guard FileManager.default.createFile(atPath: temp, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw .invalid("cannot create the secret key file \(file); set PARLEY_SECRET_KEY or PARLEY_SECRET_KEY_FILE")
        }
        defer { try? FileManager.default.removeItem(atPath: temp) }
        do {
            try FileManager.default.linkItem(atPath: temp, toPath: file)
            return (Keyring(key: key), true)
        } catch {
            if let existing = try read(file) { return (existing, false) }
            throw .invalid("cannot create the secret key file \(file): \(error)")
        }
    }

    private static func read(_ file: String) throws(KeyringError) -> Keyring? {
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw .invalid("cannot read the secret key file \(file)")
        }
        guard let ring = parse(text) else { throw .invalid("the secret key file \(file) must hold 32 bytes in base64") }
        return ring
    }

    func subkey(_ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: master), info: Data("parley:\(purpose)".utf8), outputByteCount: 32)
    }

    /// HMAC-SHA256 of `data` under the purpose's subkey.
    public func mac(_ purpose: String, _ data: some DataProtocol) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: data, using: subkey(purpose)))
    }

    /// Constant-time check of a MAC made by `mac(_:_:)`.
    public func verify(_ purpose: String, mac: some DataProtocol, for data: some DataProtocol) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(Data(mac), authenticating: data, using: subkey(purpose))
    }

    /// AES-GCM; `context` (e.g. the tenant id) is bound as associated data, so a sealed value
    /// copied into another tenant's row does not open there.
    public func seal(_ purpose: String, _ plaintext: some DataProtocol, context: String) throws(KeyringError) -> String {
        do {
            let box = try AES.GCM.seal(plaintext, using: subkey(purpose), authenticating: Data(context.utf8))
            guard let combined = box.combined else { throw KeyringError.invalid("cannot seal") }
            return "v1." + combined.base64EncodedString()
        } catch {
            throw .invalid("cannot seal a secret: \(error)")
        }
    }

    /// AES-GCM whose nonce is derived from the input (an HMAC under a subkey of its own, as in
    /// SIV): the same plaintext and context always seal to the same value (a link handed out twice
    /// in a day is the same link), and different inputs never share a nonce. It reveals only
    /// whether two sealed values are equal. Opens with `open`.
    public func sealDeterministic(_ purpose: String, _ plaintext: some DataProtocol, context: String) throws(KeyringError) -> String {
        let data = Data(plaintext)
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(context.utf8.count):\(context)".utf8) + data, using: subkey(purpose + ":nonce"))
        do {
            let nonce = try AES.GCM.Nonce(data: Data(mac).prefix(12))
            let box = try AES.GCM.seal(data, using: subkey(purpose), nonce: nonce, authenticating: Data(context.utf8))
            guard let combined = box.combined else { throw KeyringError.invalid("cannot seal") }
            return "v1." + combined.base64EncodedString()
        } catch {
            throw .invalid("cannot seal a value: \(error)")
        }
    }

    public func open(_ purpose: String, _ sealed: String, context: String) throws(KeyringError) -> Data {
        guard sealed.hasPrefix("v1."), let combined = Data(base64Encoded: String(sealed.dropFirst(3))) else {
            throw .undecryptable
        }
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: subkey(purpose), authenticating: Data(context.utf8))
        } catch {
            throw .undecryptable
        }
    }

    /// A public value that identifies the key (not the key): stored once per database so a replica
    /// started with another key refuses to run instead of failing to read what others wrote.
    public var checkValue: String {
        mac("key-check", Data("parley".utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
    }
}

public enum KeyringError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String)
    /// Tampered, truncated, or sealed under another key or context.
    case undecryptable

    public var description: String {
        switch self {
        case .invalid(let message): message
        case .undecryptable: "the value cannot be decrypted with this installation's secret key"
        }
    }
}
