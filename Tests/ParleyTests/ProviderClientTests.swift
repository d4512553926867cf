import Crypto
import Foundation
import ParleyComms
import Testing

// The messaging provider clients against a local fake provider (ProviderClientTestServer.swift) that
// records each request and replays the provider's documented answers.

/// Runs a send; returns the error it threw, or nil when it succeeded. (`send` is typed `throws(DeliveryError)`;
/// anything else would come back as `.refused`, which no provider client throws, and fail the test.)
private func commsDeliveryError(_ send: () async throws -> ProviderReceipt) async -> DeliveryError? {
    do {
        _ = try await send()
        return nil
    } catch let error as DeliveryError {
        return error
    } catch {
        return .refused("not a DeliveryError: \(error)")
    }
}

extension DeliveryError {
    fileprivate var commsKind: String {
        switch self {
        case .transient: "transient"
        case .permanent: "permanent"
        case .refused: "refused"
        }
    }

    fileprivate var commsReason: String {
        switch self {
        case .transient(let reason), .permanent(let reason), .refused(let reason): reason
        }
    }
}

private func base64HMACSHA1(key: String, message: String) -> String {
    let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: Data(key.utf8)))
    return Data(mac).base64EncodedString()
}

private func elapsed(_ body: () async -> Void) async -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    await body()
    return clock.now - start
}

// MARK: - Twilio

@Suite struct TwilioClientTests {
    static let accountSID = "AC0123456789abcdef0123456789abcdef"
    static let authToken = "tw-secret-token-5f2c"
    static let created = """
        {"account_sid":"AC0123456789abcdef0123456789abcdef","api_version":"2010-04-01","body":"Hi","date_created":"Thu, 24 Aug 2023 05:01:45 +0000",\
        "date_sent":null,"date_updated":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","error_code":null,"error_message":null,\
        "from":"+15557122661","messaging_service_sid":null,"num_media":"0","num_segments":"1","price":null,"price_unit":null,\
        "sid":"SMaaaabbbbccccddddeeeeffff00001111","status":"queued","subresource_uris":{"media":"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SMaaaabbbbccccddddeeeeffff00001111/Media.json"},\
        "to":"+15558675310","uri":"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SMaaaabbbbccccddddeeeeffff00001111.json"}
        """

    static func error(code: Int, message: String, status: Int) -> String {
        #"{"code":\#(code),"message":"\#(message)","more_info":"https://www.twilio.com/docs/errors/\#(code)","status":\#(status)}"#
    }

    static func client(_ baseURL: String, sender: TwilioConfiguration.Sender = .from("+15557122661"),
                       timeout: Duration = .seconds(30)) -> TwilioClient {
        TwilioClient(accountSID: accountSID, authToken: authToken, sender: sender, baseURL: baseURL, timeout: timeout)
    }

    static let sms = OutgoingSMS(to: "+15558675310", body: "Hi Ana & Bo: 1+1=2, 100% sure ✓ café",
                                 statusCallback: "https://parley.example/hooks/twilio/status?m=42&t=a+b", idempotencyKey: "msg-42")

    @Test func sendsTheDocumentedRequestAndReturnsTheSid() async throws {
        try await CommsFakeProviderServer.with(.json(201, Self.created)) { baseURL, server in
            let receipt = try await Self.client(baseURL).send(Self.sms)
            #expect(receipt == ProviderReceipt(provider: "twilio", providerMessageID: "SMaaaabbbbccccddddeeeeffff00001111"))

            let request = try server.onlyRequest()
            #expect(request.method == "POST")
            #expect(request.path == "/2010-04-01/Accounts/\(Self.accountSID)/Messages.json")
            let credentials = Data("\(Self.accountSID):\(Self.authToken)".utf8).base64EncodedString()
            #expect(request.headers["authorization"] == "Basic \(credentials)")
            #expect(request.headers["content-type"] == "application/x-www-form-urlencoded")
            #expect(request.headers["idempotency-key"] == nil)

            // Form encoding: `+`, `&`, `=`, `%` and non-ASCII are percent-encoded, a space is `+`.
            #expect(request.body.hasPrefix("To=%2B15558675310&From=%2B15557122661&Body="))
            #expect(request.body.contains("Body=Hi+Ana+%26+Bo%3A+1%2B1%3D2%2C+100%25+sure+%E2%9C%93+caf%C3%A9&"))
            #expect(request.body.contains("StatusCallback=https%3A%2F%2Fparley.example%2Fhooks%2Ftwilio%2Fstatus%3Fm%3D42%26t%3Da%2Bb"))
            let pairs = request.formPairs
            #expect(pairs.map(\.0) == ["To", "From", "Body", "StatusCallback"])
            #expect(request.form["To"] == Self.sms.to)
            #expect(request.form["From"] == "+15557122661")
            #expect(request.form["Body"] == Self.sms.body)
            #expect(request.form["StatusCallback"] == Self.sms.statusCallback)
        }
    }

    @Test func sendsMessagingServiceSidAndNoCallbackWhenNoneIsGiven() async throws {
        try await CommsFakeProviderServer.with(.json(201, Self.created)) { baseURL, server in
            let client = Self.client(baseURL + "/", sender: .messagingService("MG9752274e9e519418a7406176694466fa"))
            _ = try await client.send(OutgoingSMS(to: "+15558675310", body: "Code: 123456", idempotencyKey: "k"))
            let request = try server.onlyRequest()
            #expect(request.path == "/2010-04-01/Accounts/\(Self.accountSID)/Messages.json")
            #expect(request.formPairs.map(\.0) == ["To", "MessagingServiceSid", "Body"])
            #expect(request.form["MessagingServiceSid"] == "MG9752274e9e519418a7406176694466fa")
            #expect(request.form["Body"] == "Code: 123456")
        }
    }

    @Test func rateLimitIsTransient() async throws {
        let body = Self.error(code: 20429, message: "Too Many Requests", status: 429)
        try await CommsFakeProviderServer.with(.json(429, body, headers: ["retry-after": "2"])) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.sms) })
            #expect(error.commsKind == "transient")
            #expect(error.commsReason.contains("429"))
            #expect(error.commsReason.contains("20429"))
            #expect(error.commsReason.contains("retry after 2"))
        }
    }

    @Test func serverErrorIsTransient() async throws {
        let body = Self.error(code: 20500, message: "An internal server error has occurred", status: 500)
        try await CommsFakeProviderServer.with(.json(500, body)) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.sms) })
            #expect(error == .transient("twilio HTTP 500 [20500]: An internal server error has occurred"))
        }
    }

    @Test(arguments: [
        (21610, "Attempt to send to unsubscribed recipient"),
        (21211, "The 'To' number 5551234567 is not a valid phone number."),
        (21614, "'To' number is not a valid mobile number"),
        (21635, "'To' number cannot be a landline"),
    ])
    func recipientErrorsArePermanent(code: Int, message: String) async throws {
        try await CommsFakeProviderServer.with(.json(400, Self.error(code: code, message: message, status: 400))) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.sms) })
            #expect(error == .permanent("twilio HTTP 400 [\(code)]: \(message)"))
        }
    }

    /// Errors that are not about the recipient must not get the recipient suppressed: content filtering,
    /// a From number that is not on the account, a trial account, an unknown code.
    @Test(arguments: [
        (30007, "Message filtered"),
        (21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account"),
        (21608, "The 'to' phone number provided is not yet verified for this account."),
        (99999, "Something new"),
    ])
    func otherRejectionsAreTransient(code: Int, message: String) async throws {
        try await CommsFakeProviderServer.with(.json(400, Self.error(code: code, message: message, status: 400))) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.sms) })
            #expect(error == .transient("twilio HTTP 400 [\(code)]: \(message)"))
        }
    }

    /// A bad account SID or auth token is configuration: transient, so the message waits for the fix.
    @Test func authenticationFailureIsTransientAndLeaksNothing() async throws {
        let body = #"{"code":20003,"detail":"Your AccountSid or AuthToken was incorrect.","message":"Authentication Error - invalid token \#(Self.authToken)","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#
        try await CommsFakeProviderServer.with(.json(401, body)) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.sms) })
            #expect(error.commsKind == "transient")
            #expect(error.commsReason.contains("20003"))
            #expect(!error.commsReason.contains(Self.authToken))
            #expect(!error.commsReason.contains("http"))
        }
    }

    /// A 2xx that is not a Message resource proves nothing was accepted (a wrong base URL or a proxy also
    /// answers 200), so it is retried rather than recorded as sent.
    @Test(arguments: ["<html>Welcome to nginx</html>", #"{"status":"queued"}"#, ""])
    func successWithoutAMessageResourceIsTransient(body: String) async throws {
        try await CommsFakeProviderServer.with(.answer(status: 201, headers: ["content-type": "text/html"], body: body)) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.sms) })
            #expect(error == .transient("twilio HTTP 201 without a Message resource with a sid; not treated as accepted"))
        }
    }

    @Test func serverThatNeverAnswersTimesOutAsTransient() async throws {
        try await CommsFakeProviderServer.with(.neverAnswer) { baseURL, _ in
            var error: DeliveryError?
            let took = await elapsed {
                error = await commsDeliveryError { try await Self.client(baseURL, timeout: .milliseconds(200)).send(Self.sms) }
            }
            #expect(error == .transient("twilio: no complete answer within 200 ms"))
            #expect(took < .seconds(3))
        }
    }

    @Test func bodyThatStallsTimesOutAsTransient() async throws {
        try await CommsFakeProviderServer.with(.stallBody(status: 201, headers: ["content-type": "application/json"],
                                                          partialBody: #"{"sid":"SM"#)) { baseURL, _ in
            var error: DeliveryError?
            let took = await elapsed {
                error = await commsDeliveryError { try await Self.client(baseURL, timeout: .milliseconds(200)).send(Self.sms) }
            }
            #expect(error == .transient("twilio: no complete answer within 200 ms"))
            #expect(took < .seconds(3))
        }
    }

    @Test func refusedConnectionIsTransient() async throws {
        let client = Self.client("http://127.0.0.1:1", timeout: .seconds(10))
        // `send` throws `DeliveryError` itself (typed throws): no cast needed.
        var error: DeliveryError?
        do { _ = try await client.send(Self.sms) } catch let typed { error = typed }
        let refused = try #require(error)
        #expect(refused.commsKind == "transient")
        #expect(refused.commsReason.hasPrefix("twilio: connection failed"))
        #expect(!refused.commsReason.contains(Self.authToken))
        #expect(!refused.commsReason.contains("://"))
    }

    @Test func configurationNeverShowsTheAuthToken() {
        let configuration = TwilioConfiguration(accountSID: Self.accountSID, authToken: Self.authToken, sender: .from("+15557122661"))
        let client = TwilioClient(configuration: configuration)
        var dumped = ""
        dump(configuration, to: &dumped)
        dump(client, to: &dumped)
        for text in ["\(configuration)", String(reflecting: configuration), "\(client)", String(reflecting: client), dumped] {
            #expect(!text.contains(Self.authToken))
            #expect(text.contains("<redacted>"))
        }
        #expect("\(configuration)".contains(Self.accountSID))
    }
}

// MARK: - Twilio webhook signatures

@Suite struct TwilioSignatureTests {
    /// The example from Twilio's request-validation documentation.
    static let token = "12345"
    static let url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    static let params = ["CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
                         "From": "+12349013030", "To": "+18005551212"]
    static let documented = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

    @Test func knownVectorComputedIndependentlyIsValid() {
        // The signed string written out by hand: URL, then name+value sorted by name.
        let signed = "https://mycompany.com/myapp.php?foo=1&bar=2"
            + "CallSidCA1234567890ABCDE" + "Caller+12349013030" + "Digits1234" + "From+12349013030" + "To+18005551212"
        let signature = base64HMACSHA1(key: Self.token, message: signed)
        #expect(signature == Self.documented)
        #expect(TwilioClient.validSignature(authToken: Self.token, url: Self.url, params: Self.params, signature: signature))
    }

    @Test func tamperedRequestsAreInvalid() {
        var tampered = Self.params
        tampered["Digits"] = "1235"
        #expect(!TwilioClient.validSignature(authToken: Self.token, url: Self.url, params: tampered, signature: Self.documented))
        var added = Self.params
        added["Extra"] = "1"
        #expect(!TwilioClient.validSignature(authToken: Self.token, url: Self.url, params: added, signature: Self.documented))
        var removed = Self.params
        removed["To"] = nil
        #expect(!TwilioClient.validSignature(authToken: Self.token, url: Self.url, params: removed, signature: Self.documented))
        #expect(!TwilioClient.validSignature(authToken: Self.token, url: Self.url + "&baz=3", params: Self.params,
                                             signature: Self.documented))
        #expect(!TwilioClient.validSignature(authToken: "54321", url: Self.url, params: Self.params, signature: Self.documented))
    }

    @Test(arguments: ["", "not base64!", "0/KCTR6DLpKmkAf8muzZqo1nDgQ", "AAAA", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=AAAA"])
    func malformedSignaturesAreInvalid(signature: String) {
        #expect(!TwilioClient.validSignature(authToken: Self.token, url: Self.url, params: Self.params, signature: signature))
    }

    @Test func emptyAuthTokenNeverValidates() {
        let signature = base64HMACSHA1(key: "", message: Self.url)
        #expect(!TwilioClient.validSignature(authToken: "", url: Self.url, params: [:], signature: signature))
    }

    /// Parameters are sorted by name in byte order (uppercase before lowercase), and values are not trimmed or decoded.
    @Test func sortsByByteOrderAndKeepsValuesVerbatim() {
        let url = "https://parley.example/hooks/twilio/inbound"
        let params = ["body": "STOP & go", "Body": "a+b=c", "From": "+15558675310", "SmsSid": "SM1"]
        let signature = base64HMACSHA1(key: "tok", message: url + "Bodya+b=c" + "From+15558675310" + "SmsSidSM1" + "bodySTOP & go")
        #expect(TwilioClient.validSignature(authToken: "tok", url: url, params: params, signature: signature))
    }

    /// As in Twilio's libraries, a URL signed with or without the default port validates either way.
    @Test func defaultPortIsOptional() {
        let withPort = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
        let signed = base64HMACSHA1(key: Self.token, message: TwilioSignatureTests.signedString(url: withPort))
        #expect(TwilioClient.validSignature(authToken: Self.token, url: Self.url, params: Self.params, signature: signed))
        #expect(TwilioClient.validSignature(authToken: Self.token, url: withPort, params: Self.params, signature: Self.documented))
        let otherPort = "https://mycompany.com:8443/myapp.php?foo=1&bar=2"
        #expect(!TwilioClient.validSignature(authToken: Self.token, url: otherPort, params: Self.params, signature: Self.documented))
    }

    static func signedString(url: String) -> String {
        url + "CallSidCA1234567890ABCDE" + "Caller+12349013030" + "Digits1234" + "From+12349013030" + "To+18005551212"
    }
}

// MARK: - SendGrid

@Suite struct SendGridClientTests {
    static let apiKey = "SG.test-key.0123456789"

    static func client(_ baseURL: String, timeout: Duration = .seconds(30)) -> SendGridClient {
        SendGridClient(apiKey: apiKey, baseURL: baseURL, timeout: timeout)
    }

    static let email = OutgoingEmail(
        from: "Acme Support <support@acme.example>", to: "ada@example.com", subject: "Your order & receipt",
        text: "Thanks for your order.", html: "<p>Thanks for your order.</p>",
        headers: [("List-Unsubscribe", "<https://acme.example/u/old>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                  ("list-unsubscribe", "<https://acme.example/u/42>, <mailto:unsub@acme.example>")],
        idempotencyKey: "msg-7f3a")

    static let accepted = CommsFakeReply.answer(status: 202, headers: ["x-message-id": "W4xqvPCvRvaLQ6BkEjgXHg"], body: "")

    static func errors(field: String?, message: String) -> String {
        let fieldJSON = field.map { "\"\($0)\"" } ?? "null"
        return #"{"errors":[{"message":"\#(message)","field":\#(fieldJSON),"help":null}]}"#
    }

    @Test func sendsTheDocumentedRequestAndReturnsTheMessageID() async throws {
        try await CommsFakeProviderServer.with(Self.accepted) { baseURL, server in
            let receipt = try await Self.client(baseURL).send(Self.email)
            #expect(receipt == ProviderReceipt(provider: "sendgrid", providerMessageID: "W4xqvPCvRvaLQ6BkEjgXHg"))

            let request = try server.onlyRequest()
            #expect(request.method == "POST")
            #expect(request.path == "/v3/mail/send")
            #expect(request.headers["authorization"] == "Bearer \(Self.apiKey)")
            #expect(request.headers["content-type"] == "application/json")
            let json = try #require(request.json)
            let personalizations = try #require(json["personalizations"] as? [[String: Any]])
            #expect(personalizations.count == 1)
            let to = try #require(personalizations.first?["to"] as? [[String: Any]])
            #expect(to.count == 1)
            #expect(to.first?["email"] as? String == "ada@example.com")
            #expect(to.first?["name"] == nil)
            let from = try #require(json["from"] as? [String: Any])
            #expect(from["email"] as? String == "support@acme.example")
            #expect(from["name"] as? String == "Acme Support")
            #expect(json["subject"] as? String == "Your order & receipt")
            let content = try #require(json["content"] as? [[String: String]])
            #expect(content == [["type": "text/plain", "value": "Thanks for your order."],
                                ["type": "text/html", "value": "<p>Thanks for your order.</p>"]])
            let headers = try #require(json["headers"] as? [String: String])
            #expect(headers == ["List-Unsubscribe": "<https://acme.example/u/42>, <mailto:unsub@acme.example>",
                                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"])
            #expect(json["custom_args"] as? [String: String] == ["parley_idempotency_key": "msg-7f3a"])
        }
    }

    @Test func textOnlyMailHasOneContentPartAndNoHeaders() async throws {
        try await CommsFakeProviderServer.with(Self.accepted) { baseURL, server in
            let email = OutgoingEmail(from: "noreply@acme.example", to: "Ada Lovelace <ada@example.com>", subject: "Hi",
                                      text: "Plain", idempotencyKey: "k")
            _ = try await Self.client(baseURL).send(email)
            let json = try #require(try server.onlyRequest().json)
            #expect(json["content"] as? [[String: String]] == [["type": "text/plain", "value": "Plain"]])
            #expect(json["headers"] == nil)
            #expect((json["from"] as? [String: String]) == ["email": "noreply@acme.example"])
            let personalizations = try #require(json["personalizations"] as? [[String: Any]])
            #expect(personalizations.first?["to"] as? [[String: String]] == [["email": "ada@example.com", "name": "Ada Lovelace"]])
        }
    }

    @Test func rateLimitIsTransient() async throws {
        try await CommsFakeProviderServer.with(.json(429, Self.errors(field: nil, message: "too many requests"),
                                                     headers: ["retry-after": "60"])) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("sendgrid HTTP 429: too many requests (retry after 60)"))
        }
    }

    @Test func serverErrorIsTransient() async throws {
        try await CommsFakeProviderServer.with(.answer(status: 503, headers: [:], body: "")) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("sendgrid HTTP 503: provider error"))
        }
    }

    @Test func invalidRecipientAddressIsPermanent() async throws {
        let body = Self.errors(field: "personalizations.0.to.0.email", message: "Does not contain a valid address.")
        try await CommsFakeProviderServer.with(.json(400, body)) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .permanent("sendgrid HTTP 400 [field personalizations.0.to.0.email]: Does not contain a valid address."))
        }
    }

    /// A 400 about something else (here the sender) is not the recipient's fault.
    @Test func otherValidationErrorsAreTransient() async throws {
        let body = Self.errors(field: "from.email", message: "The from email does not contain a valid address.")
        try await CommsFakeProviderServer.with(.json(400, body)) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("sendgrid HTTP 400 [field from.email]: The from email does not contain a valid address."))
        }
    }

    /// A revoked key (401) or an unverified sender (403) is configuration: transient, and the key is never echoed.
    @Test(arguments: [401, 403])
    func authenticationFailuresAreTransientAndLeakNothing(status: Int) async throws {
        let body = Self.errors(field: nil, message: "The provided authorization grant \(Self.apiKey) is invalid, expired, or revoked")
        try await CommsFakeProviderServer.with(.json(status, body)) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("sendgrid HTTP \(status): The provided authorization grant <redacted> is invalid, expired, or revoked"))
        }
    }

    /// A 202 without `X-Message-Id` is not SendGrid's documented answer: retried, not recorded as sent.
    @Test func acceptedWithoutMessageIDIsTransient() async throws {
        try await CommsFakeProviderServer.with(.answer(status: 200, headers: ["content-type": "text/html"], body: "<html>ok</html>")) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("sendgrid HTTP 200 without an X-Message-Id header; not treated as accepted"))
        }
    }

    @Test func serverThatNeverAnswersTimesOutAsTransient() async throws {
        try await CommsFakeProviderServer.with(.neverAnswer) { baseURL, _ in
            var error: DeliveryError?
            let took = await elapsed {
                error = await commsDeliveryError { try await Self.client(baseURL, timeout: .milliseconds(200)).send(Self.email) }
            }
            #expect(error == .transient("sendgrid: no complete answer within 200 ms"))
            #expect(took < .seconds(3))
        }
    }

    @Test func configurationNeverShowsTheAPIKey() {
        let client = Self.client("https://api.sendgrid.com")
        var dumped = ""
        dump(client, to: &dumped)
        for text in ["\(client.configuration)", String(reflecting: client.configuration), "\(client)", dumped] {
            #expect(!text.contains(Self.apiKey))
            #expect(text.contains("<redacted>"))
        }
    }
}

// MARK: - Resend

@Suite struct ResendClientTests {
    static let apiKey = "re_test_9aF3kLmN"

    static func client(_ baseURL: String, timeout: Duration = .seconds(30)) -> ResendClient {
        ResendClient(apiKey: apiKey, baseURL: baseURL, timeout: timeout)
    }

    static let email = OutgoingEmail(
        from: "Acme <onboarding@acme.example>", to: "delivered@example.com", subject: "hello world",
        text: "it works!", html: "<strong>it works!</strong>",
        headers: [("List-Unsubscribe", "<https://acme.example/unsubscribe>"), ("X-Entity-Ref-ID", "123")],
        idempotencyKey: "welcome-user/123456789")

    static let sent = CommsFakeReply.json(200, #"{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}"#)

    static func error(_ status: Int, name: String, message: String) -> CommsFakeReply {
        .json(status, #"{"statusCode":\#(status),"message":"\#(message)","name":"\#(name)"}"#)
    }

    @Test func sendsTheDocumentedRequestWithIdempotencyKey() async throws {
        try await CommsFakeProviderServer.with(Self.sent) { baseURL, server in
            let receipt = try await Self.client(baseURL).send(Self.email)
            #expect(receipt == ProviderReceipt(provider: "resend", providerMessageID: "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"))

            let request = try server.onlyRequest()
            #expect(request.method == "POST")
            #expect(request.path == "/emails")
            #expect(request.headers["authorization"] == "Bearer \(Self.apiKey)")
            #expect(request.headers["content-type"] == "application/json")
            #expect(request.headers["idempotency-key"] == "welcome-user/123456789")
            let json = try #require(request.json)
            #expect(json["from"] as? String == "Acme <onboarding@acme.example>")
            #expect(json["to"] as? [String] == ["delivered@example.com"])
            #expect(json["subject"] as? String == "hello world")
            #expect(json["text"] as? String == "it works!")
            #expect(json["html"] as? String == "<strong>it works!</strong>")
            #expect(json["headers"] as? [String: String] == ["List-Unsubscribe": "<https://acme.example/unsubscribe>", "X-Entity-Ref-ID": "123"])
        }
    }

    @Test func retriesCarryTheSameIdempotencyKey() async throws {
        try await CommsFakeProviderServer.with(.json(500, #"{"statusCode":500,"message":"An unexpected error occurred.","name":"application_error"}"#),
                                               Self.sent) { baseURL, server in
            let client = Self.client(baseURL)
            let first = await commsDeliveryError { try await client.send(Self.email) }
            #expect(first?.commsKind == "transient")
            let receipt = try await client.send(Self.email)
            #expect(receipt.providerMessageID == "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794")
            #expect(server.requests.map { $0.headers["idempotency-key"] } == ["welcome-user/123456789", "welcome-user/123456789"])
            #expect(server.requests[0].body == server.requests[1].body)
        }
    }

    @Test func textOnlyMailOmitsHTMLAndHeaders() async throws {
        try await CommsFakeProviderServer.with(Self.sent) { baseURL, server in
            _ = try await Self.client(baseURL).send(OutgoingEmail(from: "a@acme.example", to: "b@example.com", subject: "s",
                                                                  text: "t", idempotencyKey: "k"))
            let json = try #require(try server.onlyRequest().json)
            #expect(json["html"] == nil)
            #expect(json["headers"] == nil)
        }
    }

    @Test func rateLimitIsTransient() async throws {
        let reply = Self.error(429, name: "rate_limit_exceeded", message: "Too many requests. You can only make 2 requests per second.")
        try await CommsFakeProviderServer.with(reply) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("resend HTTP 429 [rate_limit_exceeded]: Too many requests. You can only make 2 requests per second."))
        }
    }

    @Test func serverErrorIsTransient() async throws {
        try await CommsFakeProviderServer.with(Self.error(500, name: "application_error", message: "An unexpected error occurred.")) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("resend HTTP 500 [application_error]: An unexpected error occurred."))
        }
    }

    @Test func invalidRecipientIsPermanent() async throws {
        let message = "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format."
        try await CommsFakeProviderServer.with(Self.error(422, name: "validation_error", message: message)) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .permanent("resend HTTP 422 [validation_error]: \(message)"))
        }
    }

    /// Validation errors about anything but the recipient (the sender here), and idempotency conflicts,
    /// are not the recipient's fault.
    @Test(arguments: [
        (422, "validation_error", "Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format."),
        (422, "missing_required_field", "The request body is missing one or more required fields."),
        (409, "concurrent_idempotent_requests", "Same idempotency key used while original request is still in progress."),
        (409, "invalid_idempotent_request", "Same idempotency key used with a different request payload."),
    ])
    func otherRejectionsAreTransient(status: Int, name: String, message: String) async throws {
        try await CommsFakeProviderServer.with(Self.error(status, name: name, message: message)) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("resend HTTP \(status) [\(name)]: \(message)"))
        }
    }

    @Test(arguments: [(401, "missing_api_key"), (403, "invalid_api_key")])
    func authenticationFailuresAreTransientAndLeakNothing(status: Int, name: String) async throws {
        try await CommsFakeProviderServer.with(Self.error(status, name: name, message: "API key \(Self.apiKey) is invalid")) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("resend HTTP \(status) [\(name)]: API key <redacted> is invalid"))
        }
    }

    @Test(arguments: ["not json", #"{"object":"email"}"#])
    func successWithoutAnIDIsTransient(body: String) async throws {
        try await CommsFakeProviderServer.with(.json(200, body)) { baseURL, _ in
            let error = try #require(await commsDeliveryError { try await Self.client(baseURL).send(Self.email) })
            #expect(error == .transient("resend HTTP 200 without a JSON document with an id; not treated as accepted"))
        }
    }

    @Test func serverThatNeverAnswersTimesOutAsTransient() async throws {
        try await CommsFakeProviderServer.with(.neverAnswer) { baseURL, _ in
            var error: DeliveryError?
            let took = await elapsed {
                error = await commsDeliveryError { try await Self.client(baseURL, timeout: .milliseconds(200)).send(Self.email) }
            }
            #expect(error == .transient("resend: no complete answer within 200 ms"))
            #expect(took < .seconds(3))
        }
    }

    @Test func configurationNeverShowsTheAPIKey() {
        let client = Self.client("https://api.resend.com")
        var dumped = ""
        dump(client, to: &dumped)
        for text in ["\(client.configuration)", String(reflecting: client.configuration), "\(client)", dumped] {
            #expect(!text.contains(Self.apiKey))
            #expect(text.contains("<redacted>"))
        }
    }
}
