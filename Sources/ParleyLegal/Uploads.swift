import Crypto
import Foundation
import ParleyCore

/// What a valid upload link grants: uploads to one case of one tenant until `expiresAt`.
public struct UploadLinkClaims: Sendable, Equatable {
    public var tenantID: String
    public var caseID: String
    public var expiresAt: Date
}

/// Opaque, expiring upload links: `base64url(AES-GCM(tenant|case|expiry))` under the installation
/// key's upload-link subkey. The token authenticates itself (a changed byte does not open) and
/// reveals nothing: neither the tenant, the case nor the expiry can be read from it. Sealed
/// deterministically, so a case's link is the same all day (a repeated reminder is the same email).
public enum UploadLinks {
    static let purpose = "legal-upload-link"
    static let context = "upload-link-v2"

    public static func token(_ claims: UploadLinkClaims, keyring: Keyring) -> String {
        let payload = Data("\(claims.tenantID)|\(claims.caseID)|\(Int64(claims.expiresAt.timeIntervalSince1970))".utf8)
        // Sealing a few bytes with a fresh key cannot fail; should it, the link is simply unusable.
        guard let sealed = try? keyring.sealDeterministic(purpose, payload, context: context),
              let combined = Data(base64Encoded: String(sealed.dropFirst(3))) else { return "invalid" }
        return base64url(combined)
    }

    public enum Failure: Error, Sendable, Equatable { case invalid, expired }

    /// Opens the sealed token (AES-GCM verifies it before anything is read), then checks the expiry.
    public static func verify(_ token: String, keyring: Keyring, now: Date) -> Result<UploadLinkClaims, Failure> {
        guard token.utf8.count <= 512, let combined = unbase64url(token),
              let payload = try? keyring.open(purpose, "v1." + combined.base64EncodedString(), context: context) else {
            return .failure(.invalid)
        }
        let fields = String(decoding: payload, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
        guard fields.count == 3, let expiry = Int64(fields[2]) else { return .failure(.invalid) }
        let claims = UploadLinkClaims(tenantID: String(fields[0]), caseID: String(fields[1]), expiresAt: Date(timeIntervalSince1970: Double(expiry)))
        return claims.expiresAt > now ? .success(claims) : .failure(.expired)
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64url(_ text: String) -> Data? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}

/// The file types clients may upload, checked by extension and by the file's first bytes.
public enum UploadFileTypes {
    public struct Kind: Sendable, Equatable {
        public var name: String
        public var extensions: [String]
        public var contentType: String
        let matches: @Sendable ([UInt8]) -> Bool
        public static func == (a: Kind, b: Kind) -> Bool { a.name == b.name }
    }

    static func prefix(_ bytes: [UInt8], _ magic: [UInt8], at offset: Int = 0) -> Bool {
        bytes.count >= offset + magic.count && Array(bytes[offset..<(offset + magic.count)]) == magic
    }

    public static let all: [Kind] = [
        Kind(name: "pdf", extensions: ["pdf"], contentType: "application/pdf") { prefix($0, Array("%PDF-".utf8)) },
        Kind(name: "png", extensions: ["png"], contentType: "image/png") { prefix($0, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) },
        Kind(name: "jpeg", extensions: ["jpg", "jpeg"], contentType: "image/jpeg") { prefix($0, [0xFF, 0xD8, 0xFF]) },
        Kind(name: "heic", extensions: ["heic", "heif"], contentType: "image/heic") { b in
            prefix(b, Array("ftyp".utf8), at: 4) && ["heic", "heix", "hevc", "heim", "heis", "mif1", "msf1"].contains { prefix(b, Array($0.utf8), at: 8) }
        },
        // Office files are ZIP containers; the extension tells which.
        Kind(name: "docx", extensions: ["docx"], contentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document") {
            prefix($0, [0x50, 0x4B, 0x03, 0x04])
        },
        Kind(name: "xlsx", extensions: ["xlsx"], contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") {
            prefix($0, [0x50, 0x4B, 0x03, 0x04])
        },
        // Text: valid UTF-8 without NUL or other control bytes in what we looked at.
        Kind(name: "txt", extensions: ["txt"], contentType: "text/plain; charset=utf-8") { b in
            !b.contains { $0 < 0x09 || ($0 > 0x0D && $0 < 0x20) || $0 == 0x7F } && UTF8Check.isValidPrefix(b)
        },
    ]

    /// The kind a file name and its first bytes agree on, or nil.
    public static func kind(fileName: String, head: [UInt8]) -> Kind? {
        let ext = (fileName as NSString).pathExtension.lowercased()
        guard let kind = all.first(where: { $0.extensions.contains(ext) }) else { return nil }
        return kind.matches(head) ? kind : nil
    }

    /// A display-safe file name: the last path component, control characters removed, at most 200 characters.
    public static func sanitize(_ name: String) -> String? {
        let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let clean = String(last.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }.prefix(200).map(Character.init))
            .trimmingCharacters(in: .whitespaces)
        return clean.isEmpty || clean == "." || clean == ".." ? nil : clean
    }
}

enum UTF8Check {
    /// Valid UTF-8, allowing a multi-byte character cut off by the end of the sample.
    static func isValidPrefix(_ bytes: [UInt8]) -> Bool {
        for cut in 0...min(3, bytes.count) where String(validating: bytes.dropLast(cut), as: UTF8.self) != nil { return true }
        return false
    }
}

/// Writes an upload to `<dir>/<tenant>/<case>/<uuid>` via a temporary file renamed into place,
/// hashing as it goes and stopping at the size limit.
public struct UploadWriter: Sendable {
    public var directory: String
    public var maxBytes: Int

    public init(directory: String, maxBytes: Int) {
        self.directory = directory
        self.maxBytes = maxBytes
    }

    public struct Written: Sendable {
        public var path: String
        public var size: Int
        public var sha256: String
        public var kind: UploadFileTypes.Kind
    }

    public enum Failure: Error, Sendable, Equatable { case tooLarge, disallowedType, empty }

    public func write<S: AsyncSequence & Sendable>(tenantID: String, caseID: String, fileName: String, chunks: S) async throws -> Written
    where S.Element == [UInt8] {
        let dir = URL(fileURLWithPath: directory).appendingPathComponent(tenantID).appendingPathComponent(caseID)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let id = UUID().uuidString.lowercased()
        let temp = dir.appendingPathComponent(".\(id).part")
        guard FileManager.default.createFile(atPath: temp.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown)
        }
        var finished = false
        defer { if !finished { try? FileManager.default.removeItem(at: temp) } }
        let handle = try FileHandle(forWritingTo: temp)
        var hasher = SHA256()
        var size = 0
        var head: [UInt8] = []
        do {
            for try await chunk in chunks {
                size += chunk.count
                if size > maxBytes { throw Failure.tooLarge }
                if head.count < 4096 { head += chunk.prefix(4096 - head.count) }
                hasher.update(data: chunk)
                try handle.write(contentsOf: chunk)
            }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            throw error
        }
        guard size > 0 else { throw Failure.empty }
        guard let kind = UploadFileTypes.kind(fileName: fileName, head: head) else { throw Failure.disallowedType }
        let final = dir.appendingPathComponent(id)
        try FileManager.default.moveItem(at: temp, to: final)
        finished = true
        return Written(path: final.path, size: size, sha256: hasher.finalize().map { String(format: "%02x", $0) }.joined(), kind: kind)
    }
}
