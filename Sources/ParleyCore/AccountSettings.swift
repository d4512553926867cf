import Foundation

/// People's accounts and sign-in (`docs/accounts.md`, `docs/configuration.md` "Accounts and sign-in").
public struct AccountSettings: Sendable, Equatable {
    /// How long an access token (JWT) is valid.
    public var accessTokenSeconds: Int
    /// How long a refresh token (and so a signed-in family) lasts without being used.
    public var refreshTokenDays: Int
    /// The key id new access tokens are signed with; the signing key is derived from the
    /// installation's secret key and this id.
    public var tokenKeyID: String
    /// Key ids still accepted when verifying (the ones rotated away from), so a rotation does not
    /// sign everyone out.
    public var previousTokenKeyIDs: [String]
    /// scrypt's cost as log2(N) for new password hashes (r = 8, p = 1); stored with each hash.
    public var scryptLogN: Int
    /// Failed sign-ins one account may have in a window before it is locked until the window ends.
    public var maxFailuresPerAccount: Int
    /// Failed sign-ins one client address may have in a window.
    public var maxFailuresPerAddress: Int
    /// The throttling window, in seconds.
    public var failureWindowSeconds: Int
    /// How long an invitation link is valid.
    public var invitationHours: Int
    /// How long a password-reset link is valid.
    public var passwordResetMinutes: Int

    public init(accessTokenSeconds: Int = 900, refreshTokenDays: Int = 30, tokenKeyID: String = "k1", previousTokenKeyIDs: [String] = [],
                scryptLogN: Int = 15, maxFailuresPerAccount: Int = 5, maxFailuresPerAddress: Int = 50, failureWindowSeconds: Int = 900,
                invitationHours: Int = 72, passwordResetMinutes: Int = 30) {
        self.accessTokenSeconds = accessTokenSeconds
        self.refreshTokenDays = refreshTokenDays
        self.tokenKeyID = tokenKeyID
        self.previousTokenKeyIDs = previousTokenKeyIDs
        self.scryptLogN = scryptLogN
        self.maxFailuresPerAccount = maxFailuresPerAccount
        self.maxFailuresPerAddress = maxFailuresPerAddress
        self.failureWindowSeconds = failureWindowSeconds
        self.invitationHours = invitationHours
        self.passwordResetMinutes = passwordResetMinutes
    }

    /// A key id: 1 to 32 characters of a-z, A-Z, 0-9, '-' and '_'.
    public static func validKeyID(_ s: String) -> Bool {
        (1...32).contains(s.count) && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}

extension ParleyConfig {
    static func accounts(_ reader: ConfigReader) throws(ConfigError) -> AccountSettings {
        let kid = try reader.string("PARLEY_TOKEN_KEY_ID", default: "k1", accepts: "1 to 32 characters of a-z, A-Z, 0-9, '-' and '_'",
                                    valid: AccountSettings.validKeyID)
        let previous = try reader.optional("PARLEY_TOKEN_PREVIOUS_KEY_IDS", accepts: "comma-separated key ids (1 to 32 characters of a-z, A-Z, 0-9, '-' and '_')") {
            $0.split(separator: ",").allSatisfy { AccountSettings.validKeyID($0.trimmingCharacters(in: .whitespaces)) }
        }
        return AccountSettings(
            accessTokenSeconds: try reader.int("PARLEY_ACCESS_TOKEN_SECONDS", default: 900, range: 30...86_400),
            refreshTokenDays: try reader.int("PARLEY_REFRESH_TOKEN_DAYS", default: 30, range: 1...365),
            tokenKeyID: kid,
            previousTokenKeyIDs: previous.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [],
            scryptLogN: try reader.int("PARLEY_PASSWORD_SCRYPT_LOG_N", default: 15, range: 10...20),
            maxFailuresPerAccount: try reader.int("PARLEY_LOGIN_MAX_FAILURES_PER_ACCOUNT", default: 5, range: 1...1_000),
            maxFailuresPerAddress: try reader.int("PARLEY_LOGIN_MAX_FAILURES_PER_ADDRESS", default: 50, range: 1...100_000),
            failureWindowSeconds: try reader.int("PARLEY_LOGIN_FAILURE_WINDOW_SECONDS", default: 900, range: 10...86_400),
            invitationHours: try reader.int("PARLEY_INVITATION_HOURS", default: 72, range: 1...720),
            passwordResetMinutes: try reader.int("PARLEY_PASSWORD_RESET_MINUTES", default: 30, range: 5...1_440))
    }
}
