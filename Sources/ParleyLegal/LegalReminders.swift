import Foundation
import Logging
import ParleyComms
import ParleyCore
import ParleyStorage

/// What the daily trigger runs with: the server binds it when it assembles the packs' triggers
/// (`LegalPack.triggers(_:)`), since an occurrence carries only its transaction.
public struct LegalRuntime: Sendable {
    public var store: any Store
    public var clock: any Clock
    public var environment: LegalEnvironment

    public init(store: any Store, clock: any Clock, environment: LegalEnvironment) {
        self.store = store
        self.clock = clock
        self.environment = environment
    }
}

/// Chases outstanding documents on the firm's cadence.
public enum LegalReminders {
    public static let triggerName = "legal.document_reminders"
    /// Daily at 09:00 in the tenant's zone.
    static let schedule: Schedule = LocalTime(hour: 9, minute: 0).map { .daily(at: $0) } ?? .every(seconds: 86_400)

    /// The trigger, bound to its dependencies.
    public static func definition(_ runtime: LegalRuntime) -> TriggerDefinition {
        TriggerDefinition(name: triggerName, summary: "Email clients whose requested documents are overdue (follow-up, then urgent)",
                          defaultSchedule: schedule) { occurrence in
            _ = try await run(occurrence, runtime: runtime)
        }
    }

    /// Sends every reminder due for the occurrence's tenant inside its transaction; returns how many
    /// were queued. At most one per case, type and day (the idempotency key), so a re-run sends none.
    public static func run(_ occurrence: Occurrence, runtime: LegalRuntime) async throws -> Int {
        let service = CaseService(store: runtime.store, clock: runtime.clock, environment: runtime.environment)
        let ctx = ActionContext(principal: Principal(tenantID: occurrence.tenantID, keyID: nil, role: .admin, actor: "scheduler:\(triggerName)"),
                                requestID: nil)
        let due = try await service.pendingReminders(tenantID: occurrence.tenantID, on: occurrence.db)
        var templates: [EmailType: MessageTemplate] = [:]
        var sent = 0
        for reminder in due {
            let type = reminder.emailType
            if templates[type] == nil {
                templates[type] = try await service.templates.template(tenantID: occurrence.tenantID, name: type.templateName)
            }
            guard let template = templates[type] else { continue }
            do {
                let result = try await service.send(ctx, CaseService.SendRequest(caseID: reminder.legalCase.id, emailType: type), template: template,
                                                    on: occurrence.db)
                if result.created { sent += 1 }
            } catch let e as ParleyError where e.kind == .conflict {
                // Opted out, suppressed or already reminded today: nothing to send for this case.
                continue
            }
        }
        if sent > 0 { runtime.environment.wake() }
        return sent
    }
}
