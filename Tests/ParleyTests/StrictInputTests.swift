import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ParleyCore
import ParleyServer
import ParleyStorage
import Testing

/// The unknown-field finder on its own: what a body's type reads, and what it would have meant.
@Suite struct UnknownFieldsTests {
    struct Item: Decodable { var name: String; var qty: Int? }
    enum Color: String, Decodable { case red, blue }
    struct Body: Decodable {
        var channel: String
        var to: String?
        var text: String?
        var sendAt: Date?
        var color: Color?
        var items: [Item]?
        var variables: [String: String]?
        var nested: Item?
        enum CodingKeys: String, CodingKey { case channel, to, text, sendAt = "send_at", color, items, variables, nested }
    }

    func unknown(_ json: String) -> [String] {
        UnknownFields.find(Body.self, in: Data(json.utf8)).map { "\($0.location)→\($0.suggestion ?? "-")" }
    }

    @Test func knownFieldsPassAndFreeFormObjectsTakeAnyKey() {
        #expect(unknown(#"{"channel":"sms","to":"x","send_at":"2026-01-01T00:00:00Z","color":"red"}"#).isEmpty)
        #expect(unknown(#"{"channel":"sms","variables":{"anything":"goes","here":"too"}}"#).isEmpty)
        #expect(unknown(#"{"channel":"sms","nested":null,"to":null,"items":[]}"#).isEmpty)
    }

    @Test func unknownFieldsAreNamedWithTheirPathAndTheIntendedName() {
        #expect(unknown(#"{"channel":"sms","recipient":"x","body":"hi"}"#) == ["body→text", "recipient→to"])
        #expect(unknown(#"{"channel":"sms","sendAt":"2026-01-01T00:00:00Z"}"#) == ["sendAt→send_at"])
        #expect(unknown(#"{"channel":"sms","colour":"red"}"#) == ["colour→color"])
        #expect(unknown(#"{"channel":"sms","items":[{"name":"a"},{"name":"b","qtty":2}]}"#) == ["items[1].qtty→qty"])
        #expect(unknown(#"{"channel":"sms","nested":{"name":"a","flavour":"x"}}"#) == ["nested.flavour→-"])
    }

    @Test func aMissingRequiredFieldFindsTheNameSentInstead() {
        let sent = UnknownFields.sentInstead(of: "channel", at: [], in: Data(#"{"chanel":"sms"}"#.utf8))
        #expect(sent == .init(name: "chanel", path: "", suggestion: "channel"))
        let nested = UnknownFields.sentInstead(of: "name", at: ["items", "1"], in: Data(#"{"items":[{"name":"a"},{"nmae":"b"}]}"#.utf8))
        #expect(nested?.location == "items[1].nmae")
        #expect(UnknownFields.sentInstead(of: "channel", at: [], in: Data(#"{"other":"sms"}"#.utf8)) == nil)
    }

    @Test func malformedBodiesAreLeftToTheDecoder() {
        #expect(unknown("[1,2]").isEmpty)
        #expect(unknown("{").isEmpty)
        #expect(unknown(#"{"to":"x"}"#).isEmpty)  // channel missing: the decoder's own error says so
    }
}

/// Every JSON body under /v1 refuses fields its route does not read, by name.
@Suite struct StrictBodyRouteTests {
    @Test(arguments: TestEnv.kinds)
    func unknownBodyFieldsAreRefusedByNameWithTheIntendedName(_ kind: DatabaseKind) async throws {
        try await withServer(kind) { client, seeded, _, _ in
            let admin = try #require(seeded).adminKey
            let cases: [(String, HTTPRequest.Method, String, String)] = [
                ("/v1/messages", .post, #"{"channel":"sms","recipient":"+14155550100","text":"hi"}"#, "unknown field 'recipient'; did you mean 'to'?"),
                ("/v1/messages", .post, #"{"channel":"sms","to":"+14155550100","body":"hi"}"#, "unknown field 'body'; did you mean 'text'?"),
                ("/v1/messages", .post, #"{"chanel":"sms","to":"+14155550100","text":"hi"}"#, "unknown field 'chanel'; did you mean 'channel'?"),
                ("/v1/api-keys", .post, #"{"name":"bot","role":"viewer","expires":"2099-01-01T00:00:00Z"}"#, "unknown field 'expires'; did you mean 'expires_at'?"),
                ("/v1/sessions", .post, #"{"title":"x","colour":"red"}"#, "unknown field 'colour'"),
            ]
            for (uri, method, body, message) in cases {
                try await client.execute(uri: uri, method: method, headers: auth(admin, json: true), body: ByteBuffer(string: body)) { r in
                    #expect(r.status == .badRequest, "\(uri) \(body)")
                    #expect(r.errorCode == "unknown_field", "\(uri) \(body)")
                    #expect((try? r.apiError().message.hasPrefix(message)) == true, "\(uri) \(body): \((try? r.apiError().message) ?? "")")
                }
            }
            // Nothing was sent or created by the refused requests.
            try await client.execute(uri: "/v1/outbox", method: .get, headers: auth(admin)) { r in
                #expect(r.status == .ok)
                let listed = try r.json()["data"] as? [Any]
                #expect(listed?.isEmpty == true)
            }
            // The same body with the documented names is accepted.
            try await client.execute(uri: "/v1/messages", method: .post, headers: auth(admin, json: true),
                                     body: ByteBuffer(string: #"{"channel":"sms","to":"+14155550100","text":"hi"}"#)) { r in
                #expect(r.status == .accepted)
            }
        }
    }
}
