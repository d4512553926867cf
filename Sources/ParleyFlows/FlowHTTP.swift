import Foundation
import NIOCore
import NIOHTTP1
import ParleyCore
import ParleyOutbound

/// Outbound calls for http steps.
public protocol FlowHTTPClient: Sendable {
    /// Sends the request (the host already checked against the step's allow-list); any status
    /// comes back, a call that got no answer throws `OutboundError`.
    func send(method: String, url: String, headers: [String: String], body: JSONValue?, timeout: Double?) async throws -> (status: Int, body: String)
}

/// Through the outbound layer with the installation's `OutboundGuard`: the host is resolved and
/// checked (no private addresses unless `PARLEY_OUTBOUND_ALLOW` lists them), the checked address
/// is the one connected to, and no redirect is followed. One attempt: the step's retries decide.
public struct OutboundFlowHTTP: FlowHTTPClient {
    let policy: OutboundPolicy

    public init(policy: OutboundPolicy) { self.policy = policy }

    public func send(method: String, url: String, headers: [String: String], body: JSONValue?, timeout: Double?) async throws -> (status: Int, body: String) {
        let http = OutboundHTTP(.init(service: "flow http step", secrets: Array(headers.values), timeout: .milliseconds(Int64((timeout ?? 30) * 1000)),
                                      retry: .none, maxBodyBytes: 1024 * 1024, outbound: OutboundGuard(policy: policy), endpointSetting: "config.url"))
        var h = HTTPHeaders()
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { h.add(name: k, value: v) }
        var buffer: ByteBuffer?
        if let body {
            buffer = ByteBuffer(string: body.stringValue ?? body.serialized())
            if !h.contains(name: "content-type") { h.add(name: "content-type", value: body.stringValue == nil ? "application/json" : "text/plain") }
        }
        let response = try await http.send(OutboundRequest(method: HTTPMethod(rawValue: method), url: url, headers: h, body: buffer, idempotent: method == "GET"))
        return (response.status, response.text)
    }
}

extension FlowStep {
    static let httpMethods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    /// A GET changes nothing; other methods are side effects (repeated after an interruption only when idempotent).
    var httpHasSideEffects: Bool { (config["method"]?.stringValue ?? "GET").uppercased() != "GET" }

    /// Header values whose names look like credentials are kept out of the stored input.
    static func redactingCredentials(_ input: JSONValue) -> JSONValue {
        guard var o = input.objectValue, let headers = o["headers"]?.objectValue else { return input }
        var out: [String: JSONValue] = [:]
        for (name, value) in headers {
            let lower = name.lowercased()
            let secret = ["authorization", "cookie", "token", "secret", "key", "password"].contains { lower.contains($0) }
            out[name] = secret ? .string(Redactor.placeholder) : value
        }
        o["headers"] = .object(out)
        return .object(o)
    }
}
