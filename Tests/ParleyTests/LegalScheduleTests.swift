import Foundation
import HTTPTypes
import ParleyAgent
import ParleyCore
import ParleyStorage
import Testing

/// What the console's reminder form uses: the preview of exactly what will be sent, and `send_at`.
@Suite struct LegalReminderScheduleTests {
    @Test(arguments: TestEnv.kinds)
    func aReminderIsPreviewedThenScheduledForLater(_ kind: DatabaseKind) async throws {
        try await withAgentServer(kind) { client, seeded, _, clock in
            let key = seeded.adminKey
            let created = try await client.createCase(key, "Maria O'Brien", email: "maria@example.com", documents: ["W2", "Photo ID"])
            let caseID = try #require(created["case_id"]?.stringValue)

            let preview = try await client.getJSON(key, "/v1/cases/\(caseID)/reminder-preview?email_type=follow_up_reminder")
            #expect(preview["recipient"] == "maria@example.com")
            #expect(preview["documents"] == ["W2", "Photo ID"])
            let body = try #require(preview["body"]?.stringValue)
            #expect(body.contains("W2") && body.contains(preview["upload_url"]?.stringValue ?? "<none>"))
            #expect(preview["subject"]?.stringValue?.isEmpty == false)
            #expect(preview["html"] != nil, "the HTML part (or null) is always there")
            let badType = try await client.getJSON(key, "/v1/cases/\(caseID)/reminder-preview?email_type=nagging", status: .badRequest)
            #expect(badType["error"]?["code"] == "invalid_email_type")

            // 13:00 UTC the next day (14:00 in Paris, outside quiet hours).
            let at = clock.now().addingTimeInterval(29 * 3600)
            let request: JSONValue = ["case_id": .string(caseID), "recipient_email": "maria@example.com", "email_type": "follow_up_reminder",
                                      "send_at": .string(Timestamps.format(at))]
            let sent = try await client.send(.post, key, "/v1/send-email", request, status: .accepted)
            let messageID = try #require(sent["message_id"]?.stringValue)
            let message = try await client.getJSON(key, "/v1/messages/\(messageID)")
            #expect(message["send_at"]?.stringValue == Timestamps.format(at))
            #expect(message["waiting_reason"] == "scheduled")
            #expect(message["subject"] == preview["subject"] && message["text"]?.stringValue == body, "what was previewed is what is sent")

            func attempt(_ type: String, _ sendAt: String) -> JSONValue {
                ["case_id": .string(caseID), "recipient_email": "maria@example.com", "email_type": .string(type), "send_at": .string(sendAt)]
            }
            #expect(try await client.errorCode(.post, key, "/v1/send-email", attempt("urgent_reminder", "tomorrow at nine"), status: .badRequest) == "invalid_send_at")
            let tooFar = Timestamps.format(clock.now().addingTimeInterval(400 * 86_400))
            #expect(try await client.errorCode(.post, key, "/v1/send-email", attempt("urgent_reminder", tooFar), status: .badRequest) == "invalid_send_at")
            let past = Timestamps.format(clock.now().addingTimeInterval(-86_400))
            #expect(try await client.errorCode(.post, key, "/v1/send-email", attempt("urgent_reminder", past), status: .badRequest) == "send_at_in_past")
        }
    }
}
