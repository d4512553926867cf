import Foundation
import ParleyConvert
import ParleyCore
import ParleyPackKit
import ParleyPlatform
import ParleyStorage

/// `parley seed support`: a small product-help knowledge base (written for this project) for
/// the fictional "Lumen" smart desk lamp and its app, in the collection `help`.
enum SupportDemo {
    struct File {
        var filename: String
        var contentType: String
        var text: String
        var tags: [String]
    }

    static let collection = "help"

    static let files: [File] = [
        File(filename: "getting-started.md", contentType: "text/markdown", text: """
            # Getting started with Lumen

            Lumen is a smart desk lamp with an app for phones and a web dashboard. This guide takes you from the box to your first scene.

            ## What is in the box

            - The Lumen lamp head and arm
            - The weighted base
            - A USB-C power adapter (30 W) and a 1.8 m cable
            - A quick-start card with your pairing code

            ## Setting up the lamp

            1. Screw the arm into the base until it clicks.
            2. Plug the USB-C cable into the back of the base, then into the adapter.
            3. Hold the touch ring for five seconds until the light pulses blue: the lamp is ready to pair.

            ## Pairing with the app

            Install the Lumen app from your phone's app store, sign in, and tap **Add a lamp**. Enter the six-digit pairing code from \
            the quick-start card. Pairing needs Bluetooth and a 2.4 GHz Wi-Fi network; 5 GHz-only networks are not supported.

            If pairing fails, move the phone within one metre of the lamp, turn Bluetooth off and on, and try again. A lamp that \
            still does not pair can be reset: hold the touch ring for twenty seconds until it flashes red three times.
            """, tags: ["setup"]),
        File(filename: "account.md", contentType: "text/markdown", text: """
            # Your account

            ## Resetting your password

            Open the sign-in screen and choose **Forgot password**. Enter the email address of your account; we send a reset link \
            that is valid for 30 minutes. Follow the link and choose a new password of at least 12 characters.

            If the email does not arrive within five minutes, check your spam folder. Reset links can be requested at most five \
            times an hour.

            ## Two-step verification

            Turn on two-step verification in **Settings > Security**. You can use an authenticator app or SMS codes. Keep the ten \
            backup codes somewhere safe: each works once if you lose your phone.

            ## Deleting your account

            You can delete your account in **Settings > Privacy > Delete account**. Deletion is permanent after a 14-day grace \
            period, during which signing in again cancels it. Your lamps are unpaired and keep working as plain lamps.
            """, tags: ["account"]),
        File(filename: "billing.md", contentType: "text/markdown", text: """
            # Plans, billing and refunds

            ## Plans and prices

            | Plan | Monthly price | Yearly price | Lamps | Scenes |
            | --- | --- | --- | --- | --- |
            | Free | $0 | $0 | 1 | 3 |
            | Plus | $4.99 | $49 | 5 | Unlimited |
            | Studio | $12.99 | $129 | 25 | Unlimited, shared with a team |

            Prices are in US dollars and exclude sales tax where it applies.

            ## Changing your plan

            Upgrade at any time in **Settings > Plan**; the difference is charged pro rata for the rest of the billing period. A \
            downgrade takes effect at the end of the current period.

            ## Refund policy

            Subscriptions can be refunded in full within 30 days of the first payment. After 30 days, yearly plans are refunded \
            pro rata for the full months left; monthly plans are not refunded. To ask for a refund, write to billing@lumen.example \
            with your account email and the date of the charge. Refunds reach your card within 5 to 10 business days.

            Hardware bought from our store can be returned unused within 60 days for a full refund; see the warranty page.
            """, tags: ["billing"]),
        File(filename: "troubleshooting.md", contentType: "text/markdown", text: """
            # Troubleshooting

            ## The lamp is offline in the app

            Check that the lamp has power (the touch ring glows faintly). The lamp connects only to 2.4 GHz Wi-Fi; if your router \
            changed its name or password, pair the lamp again. Firmware updates install at 3 a.m. local time and take the lamp \
            offline for about two minutes.

            ## The light flickers

            Flickering is usually the power supply. Use the 30 W adapter that came with the lamp; phone chargers under 20 W \
            cannot drive full brightness. If the flicker continues with the original adapter, contact support for a replacement.

            ## Scenes do not run on schedule

            Schedules follow the time zone set in **Settings > Home**. After travelling, check the zone. Schedules run on the \
            lamp itself, so they work without the internet once saved.
            """, tags: ["troubleshooting"]),
        File(filename: "warranty.html", contentType: "text/html", text: """
            <!doctype html><html><head><title>Warranty and returns</title></head><body>
            <h1>Warranty and returns</h1>
            <h2>Warranty</h2>
            <p>Every Lumen lamp has a two-year limited warranty against defects in materials and workmanship from the date of delivery.
            The warranty does not cover damage from drops, liquids or third-party power adapters.</p>
            <h2>Returns</h2>
            <p>Unused hardware can be returned within 60 days of delivery for a full refund. Start a return from
            <a href="https://lumen.example/returns">the returns page</a>; we email a prepaid shipping label.</p>
            <table><tr><th>Region</th><th>Return shipping</th><th>Refund time</th></tr>
            <tr><td>United States</td><td>Free</td><td>5 business days</td></tr>
            <tr><td>European Union</td><td>Free</td><td>10 business days</td></tr>
            <tr><td>Rest of the world</td><td>Paid by the customer</td><td>15 business days</td></tr></table>
            </body></html>
            """, tags: ["billing", "hardware"]),
        File(filename: "privacy.html", contentType: "text/html", text: """
            <!doctype html><html><head><title>Privacy and data</title></head><body>
            <h1>Privacy and data</h1>
            <p>The lamp sends usage statistics only when you allow it in <strong>Settings &gt; Privacy</strong>. Schedules and
            scenes are stored on the lamp and, for syncing between phones, in your account.</p>
            <ul><li>Export your data from Settings &gt; Privacy &gt; Export; the archive is ready within 24 hours.</li>
            <li>We keep billing records for seven years, as tax law requires.</li></ul>
            </body></html>
            """, tags: ["account"]),
    ]

    struct Report {
        var added = 0
        var unchanged = 0
        var skipped: [String] = []
    }

    static func seed(_ kb: KnowledgeService, tenantID: String, converter: DocumentConverter = DocumentConverter()) async throws -> Report {
        let ctx = ActionContext(principal: Principal(tenantID: tenantID, keyID: nil, role: .admin, actor: "cli"), requestID: nil)
        if try await kb.collections(ctx.principal).contains(where: { $0.name == collection }) == false {
            _ = try await kb.createCollection(ctx, name: collection, description: "Lumen product help (demo)")
        }
        var report = Report()
        for file in files {
            let converted: ConvertedDocument
            do {
                converted = try converter.convert(Array(file.text.utf8), filename: file.filename, contentType: file.contentType)
            } catch {
                report.skipped.append("\(file.filename): \(error.message)")
                continue
            }
            let result = try await kb.ingest(ctx, IngestRequest(collection: collection, title: converted.title, filename: file.filename,
                                                                markdown: converted.markdown, format: converted.format.rawValue, tags: file.tags))
            if result.outcome == .unchanged { report.unchanged += 1 } else { report.added += 1 }
        }
        return report
    }
}

enum SupportCommands {
    static let help = """
        USAGE: parley seed support [--tenant <slug>]

        OPTIONS:
          --tenant <slug>   The tenant's slug. (default: default)
        """

    static let all: [PackCommand] = [
        PackCommand(.seed, "support", summary: "Load a small product-help knowledge base (collection 'help') into a tenant; running it again changes nothing.",
                    help: help) { ctx in
            var slug = "default"
            var args = ctx.arguments[...]
            while let arg = args.popFirst() {
                if arg == "--tenant", let value = args.popFirst() { slug = value } else if arg.hasPrefix("--tenant=") { slug = String(arg.dropFirst(9)) } else {
                    throw ParleyError.badRequest("unknown argument '\(arg)'\n\n\(help)")
                }
            }
            guard let tenant = try await TenantService(store: ctx.store, clock: ctx.clock).list().first(where: { $0.slug == slug }) else {
                throw ParleyError.notFound("no tenant '\(slug)': start `parley serve` once (it creates 'default') or pass --tenant", code: "tenant_not_found")
            }
            let kb = KnowledgeService(store: ctx.store, clock: ctx.clock, settings: try SupportSettings.load(ctx.config), embedder: nil, logger: ctx.logger)
            let report = try await SupportDemo.seed(kb, tenantID: tenant.id)
            print("seeded the help knowledge base into \(tenant.slug): \(report.added) document(s) added, \(report.unchanged) unchanged")
            for s in report.skipped { print("skipped \(s)") }
        },
    ]
}
