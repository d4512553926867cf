import Foundation
import HTTPTypes
import Hummingbird
import ParleyCore
import ParleyHTTP
import ParleyPlatform

extension HTTPField.Name {
    static let rateLimitLimit = Self("RateLimit-Limit")!
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    static let rateLimitReset = Self("RateLimit-Reset")!
}

/// The wire side of rate limits (`docs/rate-limits.md`): the `RateLimit-*` headers and the 429.
enum RateLimitHTTP {
    static let exposedHeaders = "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"

    static func setHeaders(_ d: RateLimitDecision, on headers: inout HTTPFields) {
        headers[.rateLimitLimit] = String(d.limit)
        headers[.rateLimitRemaining] = String(d.remaining)
        headers[.rateLimitReset] = String(d.resetSeconds)
    }

    /// 429 `rate_limited` with `Retry-After` and the refusing bucket's `RateLimit-*`; counted.
    static func response(_ limited: RateLimited, requestID: String, metrics: HTTPMetrics, openAI: Bool = false) -> Response {
        var response = ErrorMapping.response(for: limited.error, requestID: requestID, openAI: openAI)
        response.headers[.retryAfter] = String(limited.decision.retryAfterSeconds)
        setHeaders(limited.decision, on: &response.headers)
        metrics.rateLimited(tenant: limited.tenantID, bucket: limited.decision.kind.rawValue)
        return response
    }
}

/// After authentication: one token from the caller's bucket (its API key, or its user) and one
/// from its tenant's, with the tenant's own rules where it set them. A success carries the
/// key bucket's `RateLimit-*` headers; an empty bucket answers 429 before the route runs.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let limiter: any RateLimiter
    let tenantLimits: TenantLimitsService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard limiter.rules.enabled, let principal = context.principal else { return try await next(request, context) }
        let limits = try await tenantLimits.effective(tenantID: principal.tenantID)
        let subject = Self.subject(principal)
        let decisions = try await limiter.take([
            RateLimitCheck(subject.kind, key: subject.key, rule: limits.key),
            RateLimitCheck(.tenant, key: principal.tenantID, rule: limits.tenant),
        ])
        if let refused = decisions.first(where: { !$0.allowed }) { throw RateLimited(refused, tenantID: principal.tenantID) }
        var response = try await next(request, context)
        if let own = decisions.first { RateLimitHTTP.setHeaders(own, on: &response.headers) }
        return response
    }

    /// Whose bucket: the API key's, else the signed-in user's (the principal's actor).
    static func subject(_ p: Principal) -> (kind: RateLimitKind, key: String) {
        if let keyID = p.keyID { return (.key, keyID) }
        return (.user, p.actor)
    }
}

/// `GET/PUT /v1/tenant/limits`: the tenant's own key and tenant buckets.
struct TenantLimitsController {
    let limits: TenantLimitsService
    let maxBodyBytes: Int
    static let ruleFields: Set<String> = ["capacity", "refill_per_minute"]

    static func view(_ l: TenantLimits) -> JSONValue {
        var body = TenantLimitsService.rules(l)
        body["updated_at"] = AgentViews.date(l.updatedAt)
        return .object(body)
    }

    func register(_ r: Routes<RouterGroup<ParleyRequestContext>>) {
        r.on(.get, "/tenant/limits") { _, ctx in
            RawJSON(value: Self.view(try await limits.get(try ctx.caller())))
        }
        r.on(.put, "/tenant/limits") { req, ctx in
            let action = try ctx.action()
            // Refused before the body is read: a viewer learns about the role, not about a field.
            try action.principal.require(.manageKeys, toDo: "change the workspace's rate limits")
            let body = try await req.decodeJSONObject(limit: maxBodyBytes, fields: ["key", "tenant"])
            let update = TenantLimitsService.Update(key: try Self.rule(body, "key"), tenant: try Self.rule(body, "tenant"))
            return RawJSON(value: Self.view(try await limits.update(action, update)))
        }
    }

    /// Absent: unchanged; null: back to the default; an object: both figures, nothing else.
    static func rule(_ body: JSONValue, _ name: String) throws(ParleyError) -> TokenBucketRule?? {
        let shape = "\(name) must be {\"capacity\": <requests at once>, \"refill_per_minute\": <requests a minute>} or null for the installation's default"
        switch body[name] {
        case nil: return nil
        case .null?: return .some(nil)
        case .object(let fields)?:
            if let unknown = fields.keys.sorted().first(where: { !ruleFields.contains($0) }) {
                let hint = UnknownFields.suggestion(for: unknown, among: ruleFields).map { "; did you mean '\($0)'?" } ?? "; \(name) takes capacity and refill_per_minute"
                throw .badRequest("unknown field '\(unknown)' in '\(name)'\(hint)", code: "unknown_field")
            }
            guard let capacity = whole(fields["capacity"]), let perMinute = whole(fields["refill_per_minute"]) else {
                throw .badRequest(shape, code: "invalid_limits")
            }
            // The service checks the ranges.
            return .some(TokenBucketRule(capacity: capacity, per: perMinute, seconds: 60))
        default:
            throw .badRequest(shape, code: "invalid_limits")
        }
    }

    private static func whole(_ v: JSONValue?) -> Int? {
        guard case .number(let n)? = v, n == n.rounded(), abs(n) < 1e12 else { return nil }
        return Int(n)
    }
}
