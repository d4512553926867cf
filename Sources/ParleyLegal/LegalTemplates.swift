import ParleyComms

/// The pack's global default templates; tenants override them through `/v1/templates`.
enum LegalTemplates {
    static let required = ["client_name", "case_number", "upload_url", "firm_name"]

    static func reminder(_ type: EmailType, subject: String, opening: String, closing: String) -> MessageTemplate {
        MessageTemplate(
            name: type.templateName, channel: "email", purpose: .transactional, subject: subject,
            text: """
                Dear {{client_name}},

                \(opening)

                {{#documents}}
                - {{name}}{{#description}} ({{description}}){{/description}}
                {{/documents}}

                Please upload them securely here: {{upload_url}}
                (the link is personal to your case; do not forward it).

                \(closing)

                {{firm_name}}
                """,
            html: """
                <p>Dear {{client_name}},</p>
                <p>\(opening)</p>
                <ul>
                {{#documents}}
                  <li>{{name}}{{#description}} <em>({{description}})</em>{{/description}}</li>
                {{/documents}}
                </ul>
                <p><a href="{{upload_url}}">Upload your documents securely</a>. The link is personal to your case; please do not forward it.</p>
                <p>\(closing)</p>
                <p>{{firm_name}}</p>
                """,
            requiredVariables: required)
    }

    static let all: [MessageTemplate] = [
        reminder(.initialReminder, subject: "Document Request - Case #{{case_number}}",
                 opening: "We are working on your case and need the following documents:",
                 closing: "Please provide these documents at your earliest convenience. Thank you."),
        reminder(.followUpReminder, subject: "Reminder: documents still needed - Case #{{case_number}}",
                 opening: "This is a friendly reminder that we are still waiting for the following documents:",
                 closing: "If you have questions about any of them, just reply to this email."),
        reminder(.urgentReminder, subject: "URGENT: documents overdue - Case #{{case_number}}",
                 opening: "The following documents are now overdue and your case cannot move forward without them:",
                 closing: "Please upload them as soon as possible, or contact us today if something is preventing it."),
        MessageTemplate(name: "legal.system_prompt", channel: "email", purpose: .transactional, subject: "Legal assistant instructions",
                        text: LegalPack.defaultSystemPrompt),
    ]
}
