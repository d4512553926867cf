/// The public customer chat page's limits (`docs/configuration.md`, "Customer chat page").
public struct CustomerChatSettings: Sendable, Equatable {
    /// Messages one visitor may send per minute.
    public var messagesPerMinute: Int
    /// Messages all visitors from one client address may send per minute together.
    public var addressMessagesPerMinute: Int
    /// Conversations one client address may start per hour.
    public var sessionsPerHour: Int
    /// The largest attachment accepted, in bytes.
    public var attachmentMaxBytes: Int
    /// How much converted attachment text (characters) goes with one message to the agent.
    public var attachmentTextCharacters: Int
    /// How long a visitor's token (its conversation) stays valid.
    public var visitorDays: Int

    public init(messagesPerMinute: Int = 10, addressMessagesPerMinute: Int = 60, sessionsPerHour: Int = 20,
                attachmentMaxBytes: Int = 10 << 20, attachmentTextCharacters: Int = 20_000, visitorDays: Int = 7) {
        self.messagesPerMinute = messagesPerMinute
        self.addressMessagesPerMinute = addressMessagesPerMinute
        self.sessionsPerHour = sessionsPerHour
        self.attachmentMaxBytes = attachmentMaxBytes
        self.attachmentTextCharacters = attachmentTextCharacters
        self.visitorDays = visitorDays
    }
}

extension ParleyConfig {
    static func customerChat(_ reader: ConfigReader) throws(ConfigError) -> CustomerChatSettings {
        CustomerChatSettings(
            messagesPerMinute: try reader.int("PARLEY_CHAT_MESSAGES_PER_MINUTE", default: 10, range: 1...10_000),
            addressMessagesPerMinute: try reader.int("PARLEY_CHAT_ADDRESS_MESSAGES_PER_MINUTE", default: 60, range: 1...100_000),
            sessionsPerHour: try reader.int("PARLEY_CHAT_SESSIONS_PER_HOUR", default: 20, range: 1...100_000),
            attachmentMaxBytes: try reader.bytes("PARLEY_CHAT_ATTACHMENT_MAX_BYTES", default: 10 << 20),
            attachmentTextCharacters: try reader.int("PARLEY_CHAT_ATTACHMENT_TEXT_CHARS", default: 20_000, range: 100...1_000_000),
            visitorDays: try reader.int("PARLEY_CHAT_VISITOR_DAYS", default: 7, range: 1...365)
        )
    }
}
