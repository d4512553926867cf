/// One server-sent event.
public struct SSEEvent: Sendable, Equatable {
    /// The `event:` field, if the event had one.
    public var event: String?
    /// The `data:` lines joined with `\n`.
    public var data: String
    public var id: String?

    public init(event: String? = nil, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}

/// An incremental parser for `text/event-stream` bodies (the WHATWG server-sent events format).
///
/// Feed it the body's bytes in whatever pieces they arrive; it returns the events completed so far.
/// Lines end with `\n`, `\r\n` or `\r` (a `\r\n` may be split across pieces); a line is decoded as
/// UTF-8 only once it is complete, so a character split across pieces is reassembled. Lines starting
/// with `:` are comments; several `data:` lines form one event's data joined by `\n`; an event is
/// dispatched at a blank line, and an unterminated event at the end of the body is discarded.
public struct SSEParser: Sendable {
    /// The most bytes one line may buffer before the stream is rejected as malformed.
    public let maxLineBytes: Int

    private var line: [UInt8] = []
    private var lastWasCR = false
    private var atStart = true
    private var eventName: String?
    private var dataLines: [String] = []
    private var lastEventID: String?

    public init(maxLineBytes: Int = 8 * 1024 * 1024) {
        self.maxLineBytes = maxLineBytes
    }

    /// Consumes the next piece of the body and returns the events it completed.
    public mutating func consume(_ bytes: some Sequence<UInt8>) throws(ProviderError) -> [SSEEvent] {
        var events: [SSEEvent] = []
        for byte in bytes {
            if lastWasCR {
                lastWasCR = false
                if byte == UInt8(ascii: "\n") { continue }
            }
            switch byte {
            case UInt8(ascii: "\n"):
                if let event = endLine() { events.append(event) }
            case UInt8(ascii: "\r"):
                lastWasCR = true
                if let event = endLine() { events.append(event) }
            default:
                line.append(byte)
                if line.count > maxLineBytes {
                    throw .malformedStream("an event-stream line is longer than \(maxLineBytes) bytes")
                }
            }
        }
        return events
    }

    /// Processes one complete line; returns an event when the line was the blank line ending one.
    private mutating func endLine() -> SSEEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if atStart {
            atStart = false
            if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        }
        if line.isEmpty { return dispatch() }
        if line.first == UInt8(ascii: ":") { return nil }

        let field: String
        var value: Substring
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = String(decoding: line[..<colon], as: UTF8.self)
            value = Substring(String(decoding: line[(colon + 1)...], as: UTF8.self))
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = String(decoding: line, as: UTF8.self)
            value = ""
        }
        switch field {
        case "event": eventName = String(value)
        case "data": dataLines.append(String(value))
        case "id": if !value.contains("\0") { lastEventID = String(value) }
        default: break  // `retry` and unknown fields are ignored
        }
        return nil
    }

    private mutating func dispatch() -> SSEEvent? {
        defer {
            eventName = nil
            dataLines.removeAll(keepingCapacity: true)
        }
        guard !dataLines.isEmpty else { return nil }
        return SSEEvent(event: eventName, data: dataLines.joined(separator: "\n"), id: lastEventID)
    }
}
