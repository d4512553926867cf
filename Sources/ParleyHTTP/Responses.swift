import Foundation
import HTTPTypes
import Hummingbird
import ParleyCore

/// A JSON body built as a `JSONValue`: tool inputs and outputs pass through verbatim (the API
/// encoder would rewrite their keys to snake_case).
public struct RawJSON: ResponseGenerator {
    public var value: JSONValue
    public var status: HTTPResponse.Status = .ok

    public init(value: JSONValue, status: HTTPResponse.Status = .ok) {
        self.value = value
        self.status = status
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: value.serialized())))
    }
}

/// A server-rendered page (unsubscribe, a pack's public pages): never cached, never framed or
/// sniffed, no referrer leaking its signed URL, and the page's own content security policy.
public enum HTMLResponse {
    public static func page(_ html: String, csp: String) -> Response {
        Response(status: .ok, headers: [
            .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: csp, .cacheControl: "no-store",
            .xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer", .xFrameOptions: "DENY",
        ], body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

extension HTTPField.Name {
    public static let xFrameOptions = Self("X-Frame-Options")!
    public static let referrerPolicy = Self("Referrer-Policy")!
}
