import ParleyCore
import ParleyHTTP

/// What the core's routes need from their callers: every authenticated route that changes
/// something, and the reads narrower than `readTenant`. Packs declare their own
/// (`DomainPack.routeRules`). A test checks that each such registered route has its entry.
enum CoreRouteRules {
    static let all: [RouteRule] = [
        RouteRule("POST /v1/chat", .act, "chat with the assistant"),
        RouteRule("POST /chat", .act, "chat with the assistant"),
        RouteRule("POST /v1/chat/completions", .act, "chat with agents through the chat completions endpoint"),
        RouteRule("POST /v1/workflows/:id/cancel", .act, "cancel runs"),
        RouteRule("POST /v1/workflows/:id/approvals/:approval_id", .operate, "approve or reject actions"),
        RouteRule("POST /v1/sessions", .act, "start chat sessions"),
        RouteRule("PATCH /v1/sessions/:id", .act, "rename chat sessions"),
        RouteRule("POST /v1/sessions/:id/messages", .act, "chat with the assistant"),
        RouteRule("PUT /v1/tools/:name/policy", .manageKeys, "change tool policies"),
        RouteRule("POST /v1/agents", .manageKeys, "create agents"),
        RouteRule("PATCH /v1/agents/:id", .manageKeys, "change agents"),
        RouteRule("DELETE /v1/agents/:id", .manageKeys, "delete agents"),
        RouteRule("POST /v1/agents/:id/restore", .manageKeys, "restore agents"),
        RouteRule("POST /v1/agents/:id/execute", .act, "run agents"),
        RouteRule("DELETE /v1/conversations/:id", .act, "delete conversations"),
        RouteRule("POST /v1/conversations/:id/restore", .act, "restore conversations"),
        RouteRule("POST /v1/handoffs/:id/claim", .operate, "take hand-offs"),
        RouteRule("POST /v1/handoffs/:id/messages", .operate, "reply to hand-offs"),
        RouteRule("POST /v1/handoffs/:id/return", .operate, "hand conversations back to the assistant"),
        RouteRule("PUT /v1/schedules/:name", .operate, "change schedules"),
        RouteRule("PATCH /v1/tenant", .manageKeys, "change the workspace's name or time zone"),
        RouteRule("PUT /v1/tenant/packs", .manageKeys, "switch the workspace's packs on or off"),
        RouteRule("PUT /v1/tenant/widget", .manageKeys, "change the chat widget's settings"),
        RouteRule("POST /v1/tenant/widget/rotate-key", .manageKeys, "rotate the chat widget's key"),
        RouteRule("PUT /v1/tenant/limits", .manageKeys, "change the workspace's rate limits"),
        RouteRule("GET /v1/api-keys", .manageKeys, "list API keys"),
        RouteRule("POST /v1/api-keys", .manageKeys, "create API keys"),
        RouteRule("DELETE /v1/api-keys/:id", .manageKeys, "revoke API keys"),
        RouteRule("GET /v1/audit-log", .readAudit, "read the audit log"),
        RouteRule("POST /v1/users/invitations", .manageKeys, "invite users"),
        RouteRule("PATCH /v1/users/:id", .manageKeys, "change users' roles"),
        RouteRule("DELETE /v1/users/:id", .manageKeys, "remove users"),
        RouteRule("POST /v1/users/:id/restore", .manageKeys, "restore users"),
        // Changing tenants also needs the installation-level flag, checked by the service (docs/accounts.md).
        RouteRule("POST /v1/admin/tenants", .manageKeys, "create tenants"),
        RouteRule("PATCH /v1/admin/tenants/:id", .manageKeys, "change tenants"),
        RouteRule("DELETE /v1/admin/tenants/:id", .manageKeys, "delete tenants"),
        RouteRule("POST /v1/messages", .act, "send messages"),
        RouteRule("POST /v1/jobs/:id/retry", .operate, "retry jobs"),
        RouteRule("POST /v1/jobs/:id/cancel", .operate, "cancel jobs"),
        RouteRule("PUT /v1/templates/:name", .operate, "change templates"),
        RouteRule("POST /v1/templates/:name/preview", .readTenant, "preview templates"),
        RouteRule("PUT /v1/consent/:channel/:recipient", .operate, "change consent records"),
        RouteRule("POST /v1/inbound/sms", .act, "record inbound SMS"),
        RouteRule("PUT /v1/channels/:channel", .manageKeys, "change channel settings"),
        RouteRule("DELETE /v1/channels/:channel", .manageKeys, "remove channel settings"),
        RouteRule("POST /v1/convert", .readTenant, "convert documents to Markdown"),
    ]
}
