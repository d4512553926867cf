import Foundation
import Logging
import ParleyAgent
import ParleyComms
import ParleyCore
import SQLKit

/// Emails the tenant's hand-off address (`PATCH /v1/tenant` `handoff_email`) about a new
/// hand-off, from the template `core.handoff_notice`, in the hand-off's transaction. No address,
/// no email.
struct HandoffEmailNotifier: HandoffNotifier {
    let messages: MessageService

    func handoffOpened(_ handoff: Handoff, on db: any SQLDatabase) async throws {
        guard let row = try await db.raw("SELECT name, handoff_email FROM tenants WHERE id = \(bind: handoff.tenantID)").first(),
              let address = try row.decode(column: "handoff_email", as: String?.self), !address.isEmpty else { return }
        let tenantName = try row.decode(column: "name", as: String.self)
        let ctx = ActionContext(principal: Principal(tenantID: handoff.tenantID, keyID: nil, role: .admin, actor: "system"), requestID: nil)
        var variables: [String: JSONValue] = [
            "reason": .string(handoff.reason), "trigger": .string(handoff.trigger), "handoff_id": .string(handoff.id),
            "workflow_id": .string(handoff.workflowID), "tenant_name": .string(tenantName),
        ]
        if let summary = handoff.summary { variables["summary"] = .string(summary) }
        if let session = handoff.sessionID { variables["session_id"] = .string(session) }
        _ = try await messages.send(ctx, MessageRequest(channel: .email, to: address, template: DefaultTemplates.handoffNotice.name,
                                                        variables: variables, idempotencyKey: "handoff:\(handoff.id)"), on: db)
    }
}
