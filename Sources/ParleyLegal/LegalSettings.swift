import Foundation
import ParleyCore
import ParleyPackKit

/// The legal pack: client upload links and the reminder cadence.
public struct LegalSettings: Sendable {
    /// Where uploaded files are stored, under `<dir>/<tenant>/<case>/`.
    public var uploadDirectory: String
    public var uploadMaxBytes: Int
    public var uploadLinkDays: Int
    /// Days without progress before the automatic follow-up, and before the urgent reminder.
    public var followUpDays: Int
    public var urgentDays: Int

    public init(uploadDirectory: String = "uploads", uploadMaxBytes: Int = 25 << 20, uploadLinkDays: Int = 14, followUpDays: Int = 3, urgentDays: Int = 7) {
        self.uploadDirectory = uploadDirectory
        self.uploadMaxBytes = uploadMaxBytes
        self.uploadLinkDays = uploadLinkDays
        self.followUpDays = followUpDays
        self.urgentDays = urgentDays
    }

    /// Read from the same layers as every setting (flags > environment > env file > defaults).
    public static func load(_ config: ParleyConfig) throws(ConfigError) -> LegalSettings {
        let reader = ConfigReader(sources: config.sources)
        let settings = LegalSettings(
            uploadDirectory: try reader.string("PARLEY_UPLOAD_DIR", default: ParleyConfig.besideDatabase(config.databaseURL, "uploads"),
                                               accepts: "a directory path") { !$0.isEmpty },
            uploadMaxBytes: try reader.bytes("PARLEY_UPLOAD_MAX_BYTES", default: 25 << 20),
            uploadLinkDays: try reader.int("PARLEY_UPLOAD_LINK_DAYS", default: 14, range: 1...365),
            followUpDays: try reader.int("PARLEY_LEGAL_FOLLOW_UP_DAYS", default: 3, range: 1...365),
            urgentDays: try reader.int("PARLEY_LEGAL_URGENT_DAYS", default: 7, range: 1...365)
        )
        if settings.urgentDays <= settings.followUpDays {
            throw .invalid(setting: "PARLEY_LEGAL_URGENT_DAYS", value: String(settings.urgentDays),
                           accepts: "more days than PARLEY_LEGAL_FOLLOW_UP_DAYS (\(settings.followUpDays))")
        }
        return settings
    }

    static let documentation: [PackSetting] = [
        PackSetting("PARLEY_UPLOAD_DIR", default: "uploads beside the SQLite file, else ./uploads", "Where client uploads are stored"),
        PackSetting("PARLEY_UPLOAD_MAX_BYTES", default: "25mb", "Largest client upload (the upload page's own body limit)"),
        PackSetting("PARLEY_UPLOAD_LINK_DAYS", default: "14", "How long a client's upload link is valid"),
        PackSetting("PARLEY_LEGAL_FOLLOW_UP_DAYS", default: "3", "Days without progress before the automatic follow-up reminder"),
        PackSetting("PARLEY_LEGAL_URGENT_DAYS", default: "7", "Days without progress before the urgent reminder (more than the follow-up)"),
    ]
}
