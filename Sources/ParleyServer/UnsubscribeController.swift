import Foundation
import Hummingbird
import ParleyComms
import ParleyCore
import ParleyHTTP
import ParleyPlatform
import ParleyStorage

/// The target of marketing email's List-Unsubscribe link. No API key: the signed link is the
/// credential. GET only shows a confirmation (mail scanners fetch links; they must not
/// unsubscribe anyone); POST, from the page's button or a mail client's one-click (RFC 8058),
/// records the opt-out.
struct UnsubscribeController {
    let links: UnsubscribeLinks
    let store: any Store
    let clock: any Clock

    func register(_ r: Routes<Router<ParleyRequestContext>>) {
        r.on(.get, "/unsubscribe/:token") { _, ctx in
            let (tenantID, recipient) = try verified(ctx)
            let tenant = try await TenantService(store: store, clock: clock).get(tenantID)
            return Self.page(title: "Unsubscribe", body: """
                <p>Stop marketing email from <strong>\(Self.escape(tenant.name))</strong> to <strong>\(Self.escape(Self.mask(recipient)))</strong>?</p>
                <form method="post"><button type="submit">Unsubscribe</button></form>
                <p class="note">Messages about your own requests and appointments are not affected.</p>
                """)
        }
        r.on(.post, "/unsubscribe/:token") { _, ctx in
            let (tenantID, recipient) = try verified(ctx)
            try await ConsentService(store: store, clock: clock).unsubscribe(tenantID: tenantID, email: recipient)
            return Self.page(title: "Unsubscribed", body: "<p>You will not get marketing email from us at \(Self.escape(Self.mask(recipient))) any more.</p>")
        }
    }

    private func verified(_ ctx: ParleyRequestContext) throws -> (String, String) {
        guard let parsed = links.verify(try ctx.parameters.require("token")) else {
            throw ParleyError.notFound("this unsubscribe link is not valid", code: "invalid_unsubscribe_link")
        }
        return parsed
    }

    /// j•••@example.com: enough to recognise, not enough to harvest from a forwarded link.
    static func mask(_ email: String) -> String {
        guard let at = email.firstIndex(of: "@"), at > email.startIndex else { return email }
        return String(email[email.startIndex]) + "•••" + String(email[at...])
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func page(title: String, body: String) -> Response {
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title)</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2933}
            button{font:inherit;padding:.5rem 1.25rem;border-radius:.375rem;border:1px solid #1f4e79;background:#1f4e79;color:#fff;cursor:pointer}
            .note{color:#52606d;font-size:.875rem}</style></head><body><h1>\(title)</h1>\(body)</body></html>
            """
        return HTMLResponse.page(html, csp: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    }
}
