import Foundation
import Hummingbird
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyHTTP

/// The tenant's recurring tasks (the packs' triggers): when they run, and switching them off.
struct ScheduleController {
    let scheduler: Scheduler
    let definitions: [TriggerDefinition]
    let maxBodyBytes: Int

    struct Change: Decodable {
        var schedule: Schedule?
        var enabled: Bool?
    }

    func view(_ t: Scheduler.Task) -> JSONValue {
        let spec = (try? JSONEncoder().encode(t.schedule)).flatMap { try? JSONDecoder().decode(JSONValue.self, from: $0) } ?? .null
        return ["name": .string(t.name), "trigger": .string(t.trigger),
                "summary": AgentViews.text(definitions.first { $0.name == t.trigger }?.summary),
                "schedule": spec, "enabled": .bool(t.enabled), "last_run_at": AgentViews.date(t.lastRunAt),
                "next_run_at": AgentViews.date(t.nextRunAt), "runs": .number(Double(t.runs))]
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/schedules") { _, ctx in
            let principal = try ctx.caller()
            try principal.require(.readTenant)
            let tasks = try await scheduler.tasks(tenantID: principal.tenantID)
            return RawJSON(value: Paging.envelope(tasks.map(view), next: nil))
        }
        r.on(.put, "/schedules/:name") { req, ctx in
            let principal = try ctx.caller()
            try principal.require(.operate)
            let change = try await req.decodeJSON(Change.self, limit: maxBodyBytes)
            guard change.schedule != nil || change.enabled != nil else {
                throw ParleyError.badRequest("send a schedule, enabled, or both", code: "invalid_request")
            }
            let task = try await scheduler.update(tenantID: principal.tenantID, name: try ctx.parameters.require("name"),
                                                  schedule: change.schedule, enabled: change.enabled)
            return RawJSON(value: view(task))
        }
    }
}
