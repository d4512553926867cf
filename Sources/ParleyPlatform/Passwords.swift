import Crypto
import _CryptoExtras
import Foundation
import ParleyCore

/// Password hashes: scrypt (memory-hard), stored as `scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>`
/// so the cost can be raised later without invalidating existing hashes; compared in constant time.
public struct PasswordHasher: Sendable {
    /// log2(N) for new hashes; r = 8 and p = 1 (N = 2^15 needs 32 MiB per hash).
    public let logN: Int
    public static let blockSize = 8
    public static let parallelism = 1
    static let saltBytes = 16
    static let hashBytes = 32

    public init(logN: Int) { self.logN = logN }

    /// What a new password must be.
    public static func validate(_ password: String) throws(ParleyError) {
        guard (10...256).contains(password.count) else {
            throw .badRequest("password must be 10 to 256 characters", code: "invalid_password")
        }
        guard !password.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .badRequest("password must not contain control characters", code: "invalid_password")
        }
    }

    public func hash(_ password: String) throws -> String {
        var rng = SystemRandomNumberGenerator()
        let salt = (0..<Self.saltBytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let derived = try Self.derive(password, salt: salt, logN: logN, r: Self.blockSize, p: Self.parallelism)
        return "scrypt$\(logN)$\(Self.blockSize)$\(Self.parallelism)$\(Data(salt).base64EncodedString())$\(derived.base64EncodedString())"
    }

    /// True when `password` matches `stored`. A malformed stored value, or parameters outside the
    /// bounds this server would ever write, never match (and never allocate unbounded memory).
    public static func verify(_ password: String, stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "scrypt", let logN = Int(parts[1]), let r = Int(parts[2]), let p = Int(parts[3]),
              (10...20).contains(logN), (1...16).contains(r), (1...4).contains(p),
              let salt = Data(base64Encoded: String(parts[4])), let expected = Data(base64Encoded: String(parts[5])),
              !salt.isEmpty, expected.count == hashBytes,
              let derived = try? derive(password, salt: Array(salt), logN: logN, r: r, p: p) else { return false }
        return constantTimeEquals(Array(derived), Array(expected))
    }

    /// Whether `stored` was made with weaker parameters than this hasher's (rehash on next sign-in).
    public func needsRehash(_ stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 6, let n = Int(parts[1]) else { return true }
        return n < logN
    }

    /// `hash` on a thread of its own: a hash takes tens of milliseconds of CPU, which must not hold
    /// one of the few threads every request's async work shares.
    public func hashOffPool(_ password: String) async throws -> String {
        try await Self.offPool { try self.hash(password) }.get()
    }

    /// `verify` on a thread of its own (see `hashOffPool`).
    public static func verifyOffPool(_ password: String, stored: String) async -> Bool {
        (try? await offPool { verify(password, stored: stored) }.get()) ?? false
    }

    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async -> Result<T, any Error> {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: Result { try work() }) }
        }
    }

    static func derive(_ password: String, salt: [UInt8], logN: Int, r: Int, p: Int) throws -> Data {
        let key = try KDF.Scrypt.deriveKey(from: Array(password.utf8), salt: salt, outputByteCount: hashBytes,
                                           rounds: 1 << logN, blockSize: r, parallelism: p)
        return key.withUnsafeBytes { Data($0) }
    }
}
