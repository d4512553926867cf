import ParleyComms
import Testing

@Suite struct RecipientEmailTests {
    /// The reason an address is rejected, or nil if it is accepted.
    static func problem(_ text: String) -> String? {
        do throws(RecipientError) {
            _ = try Recipients.normalizeEmail(text)
            return nil
        } catch {
            guard case .invalidEmail(let reason) = error else { return "wrong case: \(error)" }
            return reason
        }
    }

    static let local64 = String(repeating: "l", count: 64)
    static let label63 = String(repeating: "d", count: 63)
    /// 64 + 1 + 189 = 254 characters, the longest allowed.
    static let longest = local64 + "@" + [label63, label63, String(repeating: "c", count: 57), "com"].joined(separator: ".")

    @Test(arguments: [
        ("user@example.com", "user@example.com"),
        ("  User.Name+tag@Example.COM  ", "User.Name+tag@example.com"),
        ("\tx@y.co\r\n", "x@y.co"),
        ("a@b.co", "a@b.co"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com"),
        ("first.last@Sub.Mail.Example.CO.UK", "first.last@sub.mail.example.co.uk"),
        ("shop@XN--BCHER-KVA.example", "shop@xn--bcher-kva.example"),
        ("a@123.example", "a@123.example"),
        ("a@a-b.c-d.com", "a@a-b.c-d.com"),
        ("a@x.c0m", "a@x.c0m"),
        (local64 + "@example.com", local64 + "@example.com"),
        ("a@" + label63 + ".com", "a@" + label63 + ".com"),
        (longest, longest),
    ])
    func acceptsAndNormalises(_ input: String, _ expected: String) throws {
        #expect(try Recipients.normalizeEmail(input) == expected)
    }

    @Test(arguments: [
        ("", "it is empty"),
        ("   \n", "it is empty"),
        ("a@b", "the domain must contain a dot, as in example.com"),
        ("a..b@x.com", "the part before the @ cannot contain two dots in a row"),
        (".a@x.com", "the part before the @ cannot start or end with a dot"),
        ("a.@x.com", "the part before the @ cannot start or end with a dot"),
        ("a@-x.com", "a part of the domain cannot start or end with a hyphen"),
        ("a@x-.com", "a part of the domain cannot start or end with a hyphen"),
        ("a@x.-com", "a part of the domain cannot start or end with a hyphen"),
        ("x@y.com\r\nBcc: z@w.com", "it contains a line break"),
        ("x@y.com\nBcc: z@w.com", "it contains a line break"),
        ("x@y.com\rBcc: z@w.com", "it contains a line break"),
        ("x@y.com\u{2028}Bcc: z@w.com", "it contains a line break"),
        ("a b@x.com", "it contains a space"),
        ("a@x .com", "it contains a space"),
        ("a\u{00A0}b@x.com", "it contains a space (U+00A0)"),
        ("a\u{0}@x.com", "it contains the control character U+0000"),
        ("a\u{7F}@x.com", "it contains the control character U+007F"),
        ("a\u{200B}@x.com", "it contains the control character U+200B"),
        ("a\u{202E}@x.com", "it contains the control character U+202E"),
        ("ab.example.com", "it has no @"),
        ("a@b@example.com", "it has more than one @"),
        ("a@x.com,b@y.com", "it has more than one @"),
        ("\"john\"@example.com", "quoted local parts are not supported"),
        ("@example.com", "there is nothing before the @"),
        ("a@", "there is nothing after the @"),
        ("a@.com", "the domain cannot start or end with a dot or contain two dots in a row"),
        ("a@x..com", "the domain cannot start or end with a dot or contain two dots in a row"),
        ("a@x.com.", "the domain cannot start or end with a dot or contain two dots in a row"),
        ("a@[192.168.0.1]", "IP address literals are not supported"),
        ("a@192.168.0.1", "the domain must end in a name, not a number"),
        ("a(b)@x.com", "the part before the @ cannot contain '('"),
        ("<a@x.com>", "the part before the @ cannot contain '<'"),
        ("a@x_y.com", "the domain cannot contain '_'"),
        ("a@x,y.com", "the domain cannot contain ','"),
        (local64 + "l@example.com", "the part before the @ is longer than 64 characters"),
        ("a@" + label63 + "d.com", "each dot-separated part of the domain must be at most 63 characters"),
        (longest + "m", "it is longer than 254 characters"),
        (String(repeating: "a", count: 1_000) + "@example.com", "it is longer than 254 characters"),
    ])
    func rejectsWithReason(_ input: String, _ reason: String) {
        #expect(Self.problem(input) == reason)
    }

    /// Look-alike characters would let "pаypal.com" (Cyrillic а) pass for "paypal.com".
    @Test(arguments: [
        ("a@p\u{0430}ypal.com", "U+0430"),  // Cyrillic small a
        ("a@\u{FF45}xample.com", "U+FF45"),  // fullwidth e
        ("a\u{FF20}example.com", "U+FF20"),  // fullwidth @
        ("a@example\u{3002}com", "U+3002"),  // ideographic full stop
        ("a@b\u{00FC}cher.de", "U+00FC"),
        ("jos\u{00E9}@example.com", "U+00E9"),
        ("a@exa\u{0301}mple.com", "U+0301"),  // combining acute accent
    ])
    func rejectsNonASCIIAndConfusables(_ input: String, _ codePoint: String) throws {
        let reason = try #require(Self.problem(input))
        #expect(reason.contains("non-ASCII character \(codePoint)"))
        #expect(reason.contains("punycode"))
    }

    @Test func errorDescriptionIsPlainEnglishAndNeverEchoesTheInput() {
        let error = RecipientError.invalidEmail("it has no @")
        #expect(error.description == "invalid email address: it has no @")
        #expect("\(error)" == "invalid email address: it has no @")
        let injected = "x@y.com\r\nBcc: z@w.com"
        do throws(RecipientError) {
            _ = try Recipients.normalizeEmail(injected)
            Issue.record("accepted a header injection")
        } catch {
            #expect(!error.description.contains("Bcc") && !error.description.contains("\r") && !error.description.contains("\n"))
        }
    }

    @Test func normalisingIsIdempotent() throws {
        for input in ["  Mixed.Case@Example.Org ", "x@Y.co"] {
            let once = try Recipients.normalizeEmail(input)
            #expect(try Recipients.normalizeEmail(once) == once)
        }
    }
}

@Suite struct RecipientPhoneTests {
    static func problem(_ text: String) -> String? {
        do throws(RecipientError) {
            _ = try Recipients.normalizePhone(text)
            return nil
        } catch {
            guard case .invalidPhone(let reason) = error else { return "wrong case: \(error)" }
            return reason
        }
    }

    @Test(arguments: [
        ("+1 (415) 555-0100", "+14155550100"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("0044 (0) 20 7946 0958", "+442079460958"),
        ("+33.1.42.68.53.00", "+33142685300"),
        ("  +49 30 901820 \n", "+4930901820"),
        ("+14155550100", "+14155550100"),
        ("+1-415-555-0100", "+14155550100"),
        ("00 1 415 555 0100", "+14155550100"),
        ("+1\u{00A0}415\u{00A0}555\u{2013}0100", "+14155550100"),
        ("+1 (415)555\u{2011}0100", "+14155550100"),
        ("+12345678", "+12345678"),
        ("+123456789012345", "+123456789012345"),
        ("+91 98765 43210", "+919876543210"),
    ])
    func acceptsAndNormalises(_ input: String, _ expected: String) throws {
        #expect(try Recipients.normalizePhone(input) == expected)
    }

    @Test(arguments: [
        ("4155550100", "it must start with + or 00 and the country code; the country is not guessed"),
        ("(415) 555-0100", "it must start with + or 00 and the country code; the country is not guessed"),
        ("020 7946 0958", "it must start with + or 00 and the country code; the country is not guessed"),
        ("+0123456789", "the country code cannot start with 0"),
        ("000 44 20 7946 0958", "the country code cannot start with 0"),
        ("+1234567", "it has 7 digits including the country code; at least 8 are needed"),
        ("+1234567890123456", "it has 16 digits including the country code; at most 15 are allowed"),
        ("+1-800-FLOWERS", "it contains letters; extensions and lettered numbers such as 1-800-FLOWERS are not supported"),
        ("+1 415 555 0100 ext 12", "it contains letters; extensions and lettered numbers such as 1-800-FLOWERS are not supported"),
        ("+1 415 555 0100 x12", "it contains letters; extensions and lettered numbers such as 1-800-FLOWERS are not supported"),
        ("tel:+14155550100", "it contains letters; extensions and lettered numbers such as 1-800-FLOWERS are not supported"),
        ("+1 415 555 0100#12", "it cannot contain '#'"),
        ("+1 415 555 0100;ext=12", "it cannot contain ';'"),
        ("+1/415/555/0100", "it cannot contain '/'"),
        ("", "it is empty"),
        ("  ", "it is empty"),
        ("+", "it has no digits after the country prefix"),
        ("00", "it has no digits after the country prefix"),
        ("1+4155550100", "a + may only appear at the very start"),
        ("++14155550100", "a + may only appear at the very start"),
        ("+1 (415 555-0100", "its parentheses are unbalanced"),
        ("+1 415) 555-0100", "its parentheses are unbalanced"),
        ("+1 ((415)) 555-0100", "its parentheses are unbalanced"),
        ("+1 415 555 0100\r\nX-Header: y", "it contains a line break"),
        ("+1\t415 555 0100", "it contains the control character U+0009"),
        ("+\u{0661}\u{0662}\u{0663}\u{0664}\u{0665}\u{0666}\u{0667}\u{0668}\u{0669}", "it contains U+0661; only the digits 0-9 are accepted"),
        ("+\u{FF11}4155550100", "it contains U+FF11; only the digits 0-9 are accepted"),
        ("\u{FF0B}14155550100", "it cannot contain U+FF0B"),
    ])
    func rejectsWithReason(_ input: String, _ reason: String) {
        #expect(Self.problem(input) == reason)
    }

    @Test func errorDescriptionIsPlainEnglish() {
        #expect(RecipientError.invalidPhone("the country code cannot start with 0").description
            == "invalid phone number: the country code cannot start with 0")
        #expect(RecipientError.invalidPhone("x") != RecipientError.invalidEmail("x"))
        #expect(RecipientError.invalidPhone("x") == RecipientError.invalidPhone("x"))
    }

    @Test func normalisingIsIdempotent() throws {
        for input in ["+1 (415) 555-0100", "0044 20 7946 0958"] {
            let once = try Recipients.normalizePhone(input)
            #expect(try Recipients.normalizePhone(once) == once)
        }
    }
}
