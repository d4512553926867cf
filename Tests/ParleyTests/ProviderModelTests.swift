import Foundation
import ParleyAgent
import ParleyCore
import Testing

/// The model interface's value types and the SSE parser.
@Suite struct ProviderModelTests {
    // MARK: JSONValue

    @Test func jsonValueSerialisesCompactlyWithSortedKeysAndIntegralNumbers() throws {
        let value: JSONValue = ["b": [1, 2.5, -3], "a": "x\"y\\z\n\u{01}é", "c": nil, "d": true, "e": ["maxLength": 100]]
        #expect(value.serialized() == #"{"a":"x\"y\\z\n\u0001é","b":[1,2.5,-3],"c":null,"d":true,"e":{"maxLength":100}}"#)
        #expect(try JSONValue.parse(value.serialized()) == value)
        #expect(value["e"]?["maxLength"]?.intValue == 100)
        #expect(value["b"]?[1]?.doubleValue == 2.5)
        #expect(value["missing"] == nil)
    }

    @Test func jsonValueIsCodable() throws {
        let value: JSONValue = ["type": "object", "properties": ["n": ["type": "integer", "minimum": 0]], "required": ["n"]]
        let data = try JSONEncoder().encode(value)
        #expect(try JSONDecoder().decode(JSONValue.self, from: data) == value)
        #expect(throws: JSONParseError.self) { try JSONValue.parse("{not json") }
    }

    @Test func providerErrorsKnowWhetherToRetry() {
        let retryable: [ProviderError] = [.overloaded, .rateLimited(retryAfter: nil), .timeout, .server(status: 502), .transport("reset")]
        let final: [ProviderError] = [.invalidRequest("bad"), .authentication, .server(status: 404), .malformedStream("x")]
        #expect(retryable.filter { !$0.isRetryable }.isEmpty)
        #expect(final.filter { $0.isRetryable }.isEmpty)
    }

    // MARK: SSE parser

    static func parseAll(_ text: String) throws -> [SSEEvent] {
        var parser = SSEParser()
        return try parser.consume(Array(text.utf8))
    }

    @Test func parsesEventsDataCommentsAndIDs() throws {
        let text = ": this is a comment\n" + "event: greeting\n" + "id: 7\n" + "data: first line\n" + "data:second line\n" + "data\n"
            + "retry: 1000\n" + "\n" + "data: {\"a\":1}\n" + "\n" + "event: empty\n" + "\n"
        #expect(try Self.parseAll(text) == [
            SSEEvent(event: "greeting", data: "first line\nsecond line\n", id: "7"),
            SSEEvent(event: nil, data: #"{"a":1}"#, id: "7"),
        ])
    }

    @Test func acceptsCRLFAndCRLineEndingsAndALeadingBOM() throws {
        let text = "\u{FEFF}event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\rdata: 3\n\n"
        #expect(try Self.parseAll(text) == [SSEEvent(event: "a", data: "1"), SSEEvent(event: "b", data: "2"), SSEEvent(data: "3")])
    }

    @Test func givesTheSameEventsWhereverTheBytesAreSplit() throws {
        let text = "event: a\r\ndata: Grüße 🌍 日本\r\n\r\n: ping\r\ndata: {\"x\":\"€\"}\r\ndata: second\r\n\r\n"
        let bytes = Array(text.utf8)
        let whole = try Self.parseAll(text)
        #expect(whole == [SSEEvent(event: "a", data: "Grüße 🌍 日本"), SSEEvent(data: "{\"x\":\"€\"}\nsecond")])
        for first in 1..<bytes.count {
            for second in first..<bytes.count where second == first || (second - first) % 3 == 0 {
                var parser = SSEParser()
                var events = try parser.consume(bytes[..<first])
                events += try parser.consume(bytes[first..<second])
                events += try parser.consume(bytes[second...])
                #expect(events == whole, "split at \(first) and \(second)")
            }
        }
        // One byte at a time.
        var parser = SSEParser()
        var events: [SSEEvent] = []
        for byte in bytes { events += try parser.consume([byte]) }
        #expect(events == whole)
    }

    @Test func anUnterminatedEventIsNotDispatched() throws {
        var parser = SSEParser()
        #expect(try parser.consume(Array("data: complete\n\ndata: cut off".utf8)) == [SSEEvent(data: "complete")])
        #expect(try parser.consume(Array("\n".utf8)).isEmpty)
    }

    @Test func rejectsAnOverlongLine() throws {
        var parser = SSEParser(maxLineBytes: 16)
        #expect(throws: ProviderError.self) { try parser.consume(Array("data: 0123456789abcdef\n".utf8)) }
    }
}
