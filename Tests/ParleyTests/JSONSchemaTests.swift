import Foundation
@testable import ParleyAgent
import ParleyCore
import Testing

/// The tool-input validator: each keyword both ways, paths, combinators and hostile schemas.
@Suite struct JSONSchemaTests {
    /// Violations rendered as `description`, which is what a model or log line sees.
    private func errors(_ value: JSONValue, _ schema: JSONValue) -> [String] {
        JSONSchemaValidator.validate(value, against: schema).map(\.description)
    }

    private func schema(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }

    private static let samples: [JSONValue] = [nil, true, false, 0, -1.5, "", "text", [], [1, "a"], [:], ["k": [nil]]]

    // MARK: Trivial and weird schemas

    @Test(arguments: samples)
    func emptyAndTrueSchemasAcceptEverything(value: JSONValue) {
        #expect(errors(value, [:]).isEmpty)
        #expect(errors(value, true).isEmpty)
    }

    @Test(arguments: samples)
    func falseSchemaRejectsEverything(value: JSONValue) {
        #expect(JSONSchemaValidator.validate(value, against: false) == [SchemaViolation(path: "", message: "is not allowed")])
    }

    @Test(arguments: [JSONValue.null, "a schema?", 42, [["type": "string"]]])
    func nonObjectSchemasAreIgnored(schema: JSONValue) {
        for value in Self.samples {
            #expect(errors(value, schema).isEmpty)
        }
    }

    @Test func keywordsWithNonsenseValuesAreIgnored() throws {
        let weird = try schema(#"""
            {"type": 5, "enum": "a", "required": "name", "properties": ["x"], "minLength": "3", "maxItems": null,
             "pattern": 7, "format": 1, "minimum": "0", "items": 3, "anyOf": {}, "oneOf": "x", "allOf": null,
             "additionalProperties": "no", "uniqueItems": "yes", "$ref": "#/nowhere", "x-custom": {"type": "null"}}
            """#)
        for value in Self.samples {
            #expect(errors(value, weird).isEmpty)
        }
    }

    @Test func annotationsAndUnknownKeywordsAreIgnored() throws {
        let annotated = try schema(#"""
            {"type": "string", "title": "T", "description": "D", "default": 5, "examples": [1, 2],
             "deprecated": true, "format": "uuid", "contentMediaType": "text/plain"}
            """#)
        #expect(errors("anything", annotated).isEmpty)
        #expect(errors(1, annotated) == ["must be a string, got number"])
    }

    // MARK: type

    struct TypeCase: Sendable, CustomTestStringConvertible {
        var type: String, valid: JSONValue, invalid: JSONValue, message: String
        var testDescription: String { type }
    }

    @Test(arguments: [
        TypeCase(type: "null", valid: nil, invalid: false, message: "must be null, got boolean"),
        TypeCase(type: "boolean", valid: true, invalid: 0, message: "must be a boolean, got number"),
        TypeCase(type: "number", valid: 1.5, invalid: "1.5", message: "must be a number, got string"),
        TypeCase(type: "integer", valid: 7, invalid: 7.25, message: "must be an integer, got number"),
        TypeCase(type: "string", valid: "s", invalid: nil, message: "must be a string, got null"),
        TypeCase(type: "array", valid: [1], invalid: ["k": 1], message: "must be an array, got object"),
        TypeCase(type: "object", valid: [:], invalid: [], message: "must be an object, got array"),
    ])
    func typeAcceptsItsOwnKindOnly(_ test: TypeCase) {
        let schema: JSONValue = ["type": .string(test.type)]
        #expect(errors(test.valid, schema).isEmpty)
        #expect(errors(test.invalid, schema) == [test.message])
    }

    @Test func integerMeansNumberWithoutFraction() {
        let integer: JSONValue = ["type": "integer"]
        #expect(errors(3, integer).isEmpty)
        #expect(errors(3.0, integer).isEmpty)
        #expect(errors(-0.0, integer).isEmpty)
        #expect(errors(-42, integer).isEmpty)
        #expect(errors(1e20, integer).isEmpty)
        #expect(errors(0.5, integer) == ["must be an integer, got number"])
        #expect(errors(-2.000001, integer) == ["must be an integer, got number"])
        #expect(errors(.number(.infinity), integer) == ["must be an integer, got number"])
        #expect(errors(.number(.nan), integer) == ["must be an integer, got number"])
        #expect(errors("3", integer) == ["must be an integer, got string"])

        let number: JSONValue = ["type": "number"]
        #expect(errors(3, number).isEmpty)
        #expect(errors(0.5, number).isEmpty)
        #expect(errors(true, number) == ["must be a number, got boolean"])
    }

    @Test func typeListAcceptsAnyListedType() {
        let nullableString: JSONValue = ["type": ["string", "null"]]
        #expect(errors("x", nullableString).isEmpty)
        #expect(errors(nil, nullableString).isEmpty)
        #expect(errors(5, nullableString) == ["must be a string or null, got number"])

        let three: JSONValue = ["type": ["string", "integer", "null"]]
        #expect(errors(2, three).isEmpty)
        #expect(errors(2.5, three) == ["must be a string, an integer or null, got number"])
        #expect(errors(false, three) == ["must be a string, an integer or null, got boolean"])
    }

    @Test func unknownTypeNamesAreIgnored() {
        #expect(errors(5, ["type": "float"]).isEmpty)
        #expect(errors(5, ["type": []]).isEmpty)
        #expect(errors(5, ["type": ["float", "string"]]) == ["must be a string, got number"])
        #expect(errors("x", ["type": ["float", "string", 3]]).isEmpty)
    }

    @Test func wrongTypeIsReportedAloneInsteadOfWithEveryOtherKeyword() throws {
        let text = try schema(#"{"type": "string", "enum": ["a"], "minLength": 3, "const": "a", "allOf": [{"type": "string"}]}"#)
        #expect(errors(5, text) == ["must be a string, got number"])
    }

    // MARK: enum and const

    @Test func enumAcceptsListedValuesOnly() throws {
        let colour: JSONValue = ["enum": ["a", "b"]]
        #expect(errors("a", colour).isEmpty)
        #expect(errors("b", colour).isEmpty)
        #expect(errors("c", colour) == ["must be one of: a, b"])
        #expect(errors(["a"], colour) == ["must be one of: a, b"])

        let mixed = try schema(#"{"enum": [1, null, "x", {"k": [1, 2]}, true]}"#)
        #expect(errors(1.0, mixed).isEmpty)
        #expect(errors(nil, mixed).isEmpty)
        #expect(errors(["k": [1, 2]], mixed).isEmpty)
        #expect(errors(["k": [2, 1]], mixed) == [#"must be one of: 1, null, x, {"k":[1,2]}, true"#])
        #expect(errors(false, mixed).count == 1)
        #expect(errors("1", mixed).count == 1)
    }

    @Test func longEnumMessagesAreTruncated() {
        let options = (1...40).map { JSONValue.string("v\($0)") }
        let message = errors("nope", ["enum": .array(options)])
        #expect(message.count == 1)
        #expect(message.first?.hasPrefix("must be one of: v1, v2, ") == true)
        #expect(message.first?.hasSuffix("v25, … (15 more)") == true)
        #expect(errors("v40", ["enum": .array(options)]).isEmpty)
    }

    @Test func emptyEnumRejectsEverything() {
        #expect(errors("a", ["enum": []]).count == 1)
    }

    @Test func constRequiresEqualValue() throws {
        #expect(errors(42, ["const": 42]).isEmpty)
        #expect(errors(42.0, ["const": 42]).isEmpty)
        #expect(errors(41, ["const": 42]) == ["must be equal to 42"])
        #expect(errors("42", ["const": 42]) == ["must be equal to 42"])
        #expect(errors("on", ["const": "on"]).isEmpty)
        #expect(errors("off", ["const": "on"]) == ["must be equal to on"])
        #expect(errors(nil, ["const": nil]).isEmpty)
        #expect(errors(false, ["const": nil]) == ["must be equal to null"])
        let object = try schema(#"{"const": {"a": [1, {"b": null}]}}"#)
        #expect(errors(["a": [1, ["b": nil]]], object).isEmpty)
        #expect(errors(["a": [1, ["b": false]]], object).count == 1)
        #expect(errors(["a": [1, ["b": nil]], "c": 1], object).count == 1)
    }

    // MARK: Strings

    @Test func lengthCountsCharactersNotBytes() {
        let schema: JSONValue = ["minLength": 2, "maxLength": 3]
        #expect(errors("ab", schema).isEmpty)
        #expect(errors("abc", schema).isEmpty)
        #expect(errors("a", schema) == ["must be at least 2 characters long"])
        #expect(errors("abcd", schema) == ["must be at most 3 characters long"])
        // Each of these is one Character but several scalars / UTF-16 units / bytes.
        #expect(errors("e\u{301}", ["maxLength": 1]).isEmpty)
        #expect(errors("👨‍👩‍👧", ["maxLength": 1]).isEmpty)
        #expect(errors("🇫🇷🇩🇪", ["maxLength": 1]) == ["must be at most 1 character long"])
        #expect(errors("", ["minLength": 1]) == ["must be at least 1 character long"])
        #expect(errors("ab", ["minLength": 2.5]) == ["must be at least 2.5 characters long"])
    }

    @Test func stringKeywordsIgnoreOtherTypes() {
        let schema: JSONValue = ["minLength": 5, "pattern": "^x$", "format": "email"]
        #expect(errors(1, schema).isEmpty)
        #expect(errors([1, 2], schema).isEmpty)
        #expect(errors(nil, schema).isEmpty)
    }

    @Test func patternSearchesUnlessAnchored() {
        #expect(errors("abc", ["pattern": "b"]).isEmpty)
        #expect(errors("abc", ["pattern": "^b"]) == ["must match pattern ^b"])
        #expect(errors("2024-05", ["pattern": #"^\d{4}-\d{2}$"#]).isEmpty)
        #expect(errors("2024-5", ["pattern": #"^\d{4}-\d{2}$"#]) == [#"must match pattern ^\d{4}-\d{2}$"#])
        #expect(errors("héllo 👋", ["pattern": "👋$"]).isEmpty)
        #expect(errors("", ["pattern": ""]).isEmpty)
    }

    @Test(arguments: ["(", "[a-", "*x", "a{2,1}", #"\"#])
    func invalidPatternIsIgnored(pattern: String) {
        #expect(errors("anything", ["type": "string", "pattern": .string(pattern)]).isEmpty)
    }

    @Test(arguments: [
        "2024-05-01T12:00:00Z", "2024-05-01t12:00:00z", "2024-05-01T12:00:00.5Z", "2024-05-01T12:00:00.123456+02:00",
        "2024-12-31T23:59:60-05:30", "2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "0001-01-01T00:00:00+00:00",
    ])
    func dateTimeAcceptsRFC3339(text: String) {
        #expect(JSONSchemaValidator.isDateTime(text))
        #expect(errors(.string(text), ["format": "date-time"]).isEmpty)
    }

    @Test(arguments: [
        "", "2024-05-01", "12:00:00Z", "2024-05-01T12:00:00", "2024-05-01 12:00:00Z", "2024-5-01T12:00:00Z",
        "2024-13-01T12:00:00Z", "2024-00-01T12:00:00Z", "2024-04-31T12:00:00Z", "2023-02-29T12:00:00Z",
        "1900-02-29T12:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z", "2024-05-01T12:00:61Z",
        "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00+0200", "2024-05-01T12:00:00+24:00", "2024-05-01T12:00:00Zjunk",
        "２０２４-05-01T12:00:00Z", "2024-05-01T12:00:00ZZ", "tomorrow",
    ])
    func dateTimeRejectsEverythingElse(text: String) {
        #expect(!JSONSchemaValidator.isDateTime(text))
        #expect(errors(.string(text), ["format": "date-time"]) == ["must be a date-time such as 2024-05-01T12:00:00Z"])
    }

    @Test func emailIsASimpleSanityCheck() {
        for valid in ["a@b.co", "first.last+tag@sub.example.org", "ü@exämple.de"] {
            #expect(errors(.string(valid), ["format": "email"]).isEmpty, "\(valid)")
        }
        for invalid in ["", "plain", "@example.com", "a@", "a@localhost", "a@b@c.com", "a b@c.com", "a@b..com", "a@.b.com", "a@b.com."] {
            #expect(errors(.string(invalid), ["format": "email"]) == ["must be an email address"], "\(invalid)")
        }
    }

    @Test func unknownFormatsAreIgnored() {
        #expect(errors("not a uuid", ["format": "uuid"]).isEmpty)
        #expect(errors("x", ["format": "uri"]).isEmpty)
    }

    // MARK: Numbers

    @Test func inclusiveBounds() {
        let schema: JSONValue = ["minimum": 1, "maximum": 10]
        #expect(errors(1, schema).isEmpty)
        #expect(errors(10, schema).isEmpty)
        #expect(errors(5.5, schema).isEmpty)
        #expect(errors(0.99, schema) == ["must be at least 1"])
        #expect(errors(10.5, schema) == ["must be at most 10"])
        #expect(errors(-3, ["minimum": -2.5]) == ["must be at least -2.5"])
    }

    @Test func exclusiveBounds() {
        let schema: JSONValue = ["exclusiveMinimum": 0, "exclusiveMaximum": 1]
        #expect(errors(0.5, schema).isEmpty)
        #expect(errors(0, schema) == ["must be greater than 0"])
        #expect(errors(1, schema) == ["must be less than 1"])
        #expect(errors(-1, schema) == ["must be greater than 0"])
    }

    @Test func draft4BooleanExclusiveBounds() {
        let schema: JSONValue = ["minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true]
        #expect(errors(0.5, schema).isEmpty)
        #expect(errors(0, schema) == ["must be greater than 0"])
        #expect(errors(1, schema) == ["must be less than 1"])
        let inclusive: JSONValue = ["minimum": 0, "exclusiveMinimum": false]
        #expect(errors(0, inclusive).isEmpty)
    }

    @Test func numericKeywordsIgnoreOtherTypesAndOddNumbers() {
        #expect(errors("5", ["minimum": 10]).isEmpty)
        #expect(errors(.number(.infinity), ["maximum": 10]) == ["must be at most 10"])
        #expect(errors(.number(.nan), ["minimum": 0, "maximum": 1]).isEmpty)
        #expect(errors(1e300, ["maximum": 1e299]).count == 1)
    }

    // MARK: Arrays

    @Test func itemsValidatesEachElementWithIndexedPaths() {
        let schema: JSONValue = ["type": "array", "items": ["type": "string"]]
        #expect(errors(["a", "b"], schema).isEmpty)
        #expect(errors([], schema).isEmpty)
        #expect(errors(["a", 2, "c", nil], schema) == ["/1 must be a string, got number", "/3 must be a string, got null"])
    }

    @Test func itemCountBounds() {
        let schema: JSONValue = ["minItems": 1, "maxItems": 2]
        #expect(errors([1], schema).isEmpty)
        #expect(errors([1, 2], schema).isEmpty)
        #expect(errors([], schema) == ["must have at least 1 item"])
        #expect(errors([1, 2, 3], schema) == ["must have at most 2 items"])
        #expect(errors("not an array", schema).isEmpty)
    }

    @Test func uniqueItemsComparesStructurally() throws {
        let unique: JSONValue = ["uniqueItems": true]
        #expect(errors([1, 2, 3], unique).isEmpty)
        #expect(errors([1, "1", true, nil, [1], ["1": 1]], unique).isEmpty)
        #expect(errors([[1, 2], [2, 1]], unique).isEmpty)
        #expect(errors([1, 2, 1.0], unique) == ["must not contain duplicates (items 0 and 2 are equal)"])
        let objects = try JSONValue.parse(#"[{"a": 1, "b": [true]}, {"a": 2}, {"b": [true], "a": 1}]"#)
        #expect(errors(objects, unique) == ["must not contain duplicates (items 0 and 2 are equal)"])
        #expect(errors([1, 1], ["uniqueItems": false]).isEmpty)
        #expect(errors([], unique).isEmpty)
    }

    @Test func uniqueItemsOnALargeArrayIsQuick() {
        let many = JSONValue.array((0..<20_000).map { .number(Double($0)) } + [.number(19_999)])
        #expect(errors(many, ["uniqueItems": true]) == ["must not contain duplicates (items 19999 and 20000 are equal)"])
    }

    // MARK: Objects

    @Test func requiredPropertiesAreReportedAtTheirPaths() {
        let schema: JSONValue = ["type": "object", "required": ["name", "age"]]
        #expect(errors(["name": "x", "age": 1], schema).isEmpty)
        #expect(errors(["name": nil, "age": nil], schema).isEmpty)
        #expect(errors(["age": 1], schema) == ["/name is required"])
        #expect(errors([:], schema) == ["/name is required", "/age is required"])
    }

    @Test func propertiesValidateOnlyPresentKeys() {
        let schema: JSONValue = ["properties": ["name": ["type": "string"], "age": ["type": "integer", "minimum": 0]]]
        #expect(errors([:], schema).isEmpty)
        #expect(errors(["name": "x", "other": true], schema).isEmpty)
        #expect(errors(["name": 1, "age": -1.5], schema) == ["/age must be an integer, got number", "/name must be a string, got number"])
        #expect(errors(["age": -1], schema) == ["/age must be at least 0"])
    }

    @Test func additionalPropertiesFalseRejectsUndeclaredKeys() {
        let schema: JSONValue = ["properties": ["a": [:]], "additionalProperties": false]
        #expect(errors(["a": 1], schema).isEmpty)
        #expect(errors([:], schema).isEmpty)
        #expect(errors(["a": 1, "z": 2, "b": 3], schema) == ["/b is not allowed", "/z is not allowed"])
        #expect(errors(["a": 1, "b": 2], ["properties": ["a": [:]], "additionalProperties": true]).isEmpty)
    }

    @Test func additionalPropertiesSchemaValidatesUndeclaredValues() {
        let schema: JSONValue = ["properties": ["id": ["type": "integer"]], "additionalProperties": ["type": "string"]]
        #expect(errors(["id": 1, "x": "y"], schema).isEmpty)
        #expect(errors(["id": 1, "x": 2], schema) == ["/x must be a string, got number"])
        #expect(errors(["id": "1"], schema) == ["/id must be an integer, got string"])
    }

    @Test func pathsEscapeSlashAndTilde() {
        let schema: JSONValue = ["required": ["a/b", "c~d"], "additionalProperties": false]
        #expect(errors(["x/y": 1], schema) == ["/a~1b is required", "/c~0d is required", "/x~1y is not allowed"])
    }

    // MARK: Nesting and messages

    @Test func nestedViolationsCarryFullPaths() throws {
        let schema = try schema(#"""
            {"type": "object", "required": ["items"], "additionalProperties": false,
             "properties": {"items": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["name", "qty"], "additionalProperties": false,
                "properties": {"name": {"type": "string", "minLength": 1},
                               "qty": {"type": "integer", "minimum": 1},
                               "tags": {"type": "array", "items": {"enum": ["red", "blue"]}, "uniqueItems": true}}}}}}
            """#)
        let good = try JSONValue.parse(#"{"items": [{"name": "bolt", "qty": 3, "tags": ["red"]}]}"#)
        #expect(errors(good, schema).isEmpty)

        let bad = try JSONValue.parse(#"""
            {"items": [{"name": "", "qty": 0.5, "tags": ["red", "green", "red"]}, {"colour": 1}], "extra": null}
            """#)
        #expect(errors(bad, schema) == [
            "/extra is not allowed",
            "/items/0/name must be at least 1 character long",
            "/items/0/qty must be an integer, got number",
            "/items/0/tags must not contain duplicates (items 0 and 2 are equal)",
            "/items/0/tags/1 must be one of: red, blue",
            "/items/1/name is required",
            "/items/1/qty is required",
            "/items/1/colour is not allowed",
        ])
        let first = JSONSchemaValidator.validate(bad, against: schema).first
        #expect(first == SchemaViolation(path: "/extra", message: "is not allowed"))
    }

    @Test func descriptionOmitsEmptyRootPath() {
        #expect(SchemaViolation(path: "", message: "must be a string, got number").description == "must be a string, got number")
        #expect(SchemaViolation(path: "/a/0", message: "is required").description == "/a/0 is required")
    }

    @Test func allViolationsAreReportedNotJustTheFirst() {
        let schema: JSONValue = ["type": "string", "minLength": 5, "pattern": "^[0-9]+$", "enum": ["12345"]]
        #expect(errors("abc", schema) == ["must be one of: 12345", "must be at least 5 characters long", "must match pattern ^[0-9]+$"])
    }

    // MARK: Combinators

    @Test func anyOfNeedsOneMatchingOption() throws {
        let schema = try schema(#"{"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer"}]}"#)
        #expect(errors("ab", schema).isEmpty)
        #expect(errors(7, schema).isEmpty)
        #expect(errors("abc", schema) == [
            "must match at least one schema in anyOf (option 1: must be at most 2 characters long; option 2: must be an integer, got string)",
        ])
        #expect(errors(["v": true], ["properties": ["v": schema]]) == [
            "/v must match at least one schema in anyOf (option 1: must be a string, got boolean; option 2: must be an integer, got boolean)",
        ])
    }

    @Test func combinatorSummariesUseRelativePaths() throws {
        let schema = try schema(#"{"anyOf": [{"required": ["a"]}, {"properties": {"b": {"type": "string"}}, "required": ["b"]}]}"#)
        #expect(errors(["x": ["b": 1]], ["properties": ["x": schema]]) == [
            "/x must match at least one schema in anyOf (option 1: /a is required; option 2: /b must be a string, got number)",
        ])
    }

    @Test func oneOfNeedsExactlyOneMatchingOption() throws {
        let schema = try schema(#"{"oneOf": [{"type": "integer"}, {"type": "number", "maximum": 10}, {"type": "string"}]}"#)
        #expect(errors(11, schema).isEmpty)
        #expect(errors(2.5, schema).isEmpty)
        #expect(errors("s", schema).isEmpty)
        #expect(errors(3, schema) == ["must match exactly one schema in oneOf, but matched options 1 and 2"])
        #expect(errors(nil, schema) == [
            "must match exactly one schema in oneOf (option 1: must be an integer, got null; option 2: must be a number, got null; option 3: must be a string, got null)",
        ])
        let all: JSONValue = ["oneOf": [[:], true, ["type": "number"]]]
        #expect(errors(1, all) == ["must match exactly one schema in oneOf, but matched options 1, 2 and 3"])
    }

    @Test func allOfReportsEveryFailingBranch() {
        let schema: JSONValue = ["allOf": [["type": "string"], ["minLength": 3], ["pattern": "^a"]]]
        #expect(errors("abc", schema).isEmpty)
        #expect(errors("b", schema) == ["must be at least 3 characters long", "must match pattern ^a"])
        #expect(errors(1, schema) == ["must be a string, got number"])
    }

    @Test func emptyCombinatorListsAreIgnored() {
        #expect(errors(1, ["anyOf": [], "oneOf": [], "allOf": []]).isEmpty)
    }

    @Test func falseAndWeirdBranchesInCombinators() {
        #expect(errors(1, ["anyOf": [false, "junk"]]).isEmpty)
        #expect(errors(1, ["anyOf": [false, false]]) == ["must match at least one schema in anyOf (option 1: is not allowed; option 2: is not allowed)"])
        #expect(errors(1, ["allOf": [true, false]]) == ["is not allowed"])
    }

    // MARK: Hostile input

    /// `depth` levels of `{"items": …}` around a string schema, and a matching value of nested arrays.
    private func nested(_ depth: Int) -> (value: JSONValue, schema: JSONValue) {
        var value: JSONValue = "leaf"
        var schema: JSONValue = ["type": "string"]
        for _ in 0..<depth {
            value = [value]
            schema = ["type": "array", "items": schema]
        }
        return (value, schema)
    }

    @Test func nestingWithinTheCapValidates() {
        let (value, schema) = nested(JSONSchemaValidator.maxDepth)
        #expect(errors(value, schema).isEmpty)
        let (_, deeperSchema) = nested(JSONSchemaValidator.maxDepth - 1)
        let (wrong, _) = nested(JSONSchemaValidator.maxDepth)
        // One level short: the innermost array meets a string schema, reported at the deepest path.
        let violations = JSONSchemaValidator.validate(wrong, against: deeperSchema)
        #expect(violations.map(\.message) == ["must be a string, got array"])
        #expect(violations.first?.path == String(repeating: "/0", count: JSONSchemaValidator.maxDepth - 1))
    }

    @Test func nestingBeyondTheCapFailsClosedWithoutRecursingFurther() {
        let (value, schema) = nested(500)
        let violations = JSONSchemaValidator.validate(value, against: schema)
        #expect(violations.count == 1)
        #expect(violations.first?.message == "exceeds the maximum schema nesting depth of 64")
        #expect(violations.first?.path == String(repeating: "/0", count: JSONSchemaValidator.maxDepth + 1))
    }

    @Test func deeplyNestedCombinatorChainsHitTheDepthCap() {
        var chain: JSONValue = true
        for _ in 0..<1_000 { chain = ["allOf": [chain]] }
        #expect(errors("x", chain) == ["exceeds the maximum schema nesting depth of 64"])
        var anyChain: JSONValue = true
        for _ in 0..<1_000 { anyChain = ["anyOf": [anyChain]] }
        #expect(errors("x", anyChain).count == 1)
    }

    @Test func exponentialSchemasRunOutOfBudgetInsteadOfHanging() {
        // Each level evaluates its child twice: 2^30 evaluations without a budget, well inside the depth cap.
        var schema: JSONValue = ["type": "integer"]
        for _ in 0..<30 { schema = ["allOf": [schema, schema]] }
        let expected = ["could not be validated: the schema needs more than \(JSONSchemaValidator.maxEvaluations) evaluations"]
        #expect(errors(1, schema) == expected)
        #expect(errors("wrong type too", schema) == expected)

        var failing: JSONValue = false
        for _ in 0..<30 { failing = ["oneOf": [failing, failing]] }
        #expect(errors(nil, failing) == expected)
    }

    @Test func largeRealisticInputsStayWithinBudget() throws {
        let schema = try schema(#"""
            {"type": "array", "items": {"type": "object", "required": ["id", "name"], "additionalProperties": false,
             "properties": {"id": {"type": "integer"}, "name": {"type": "string", "pattern": "^n"},
                            "tag": {"anyOf": [{"type": "null"}, {"type": "string"}]}}}}
            """#)
        let rows = (0..<20_000).map { index -> JSONValue in ["id": .number(Double(index)), "name": .string("n\(index)"), "tag": "t"] }
        #expect(errors(.array(rows), schema).isEmpty)
        var broken = rows
        broken[12_345] = ["id": 1.5, "name": "x"]
        #expect(errors(.array(broken), schema) == ["/12345/id must be an integer, got number", "/12345/name must match pattern ^n"])
    }

    @Test func deepValuesAgainstShallowSchemasAreFine() {
        var deep: JSONValue = nil
        for _ in 0..<2_000 { deep = [deep] }
        #expect(errors(deep, [:]).isEmpty)
        #expect(errors(deep, ["type": "array", "minItems": 1]).isEmpty)
        // Equality is iterative, so comparing two deep values cannot blow the stack.
        #expect(errors([deep, deep], ["uniqueItems": true]) == ["must not contain duplicates (items 0 and 1 are equal)"])
        #expect(errors(deep, ["const": deep]).isEmpty)
        #expect(errors(deep, ["enum": [[[nil]]]]).count == 1)
    }

    @Test func typicalToolSchemaRoundTrip() throws {
        let schema = try schema(#"""
            {"type": "object", "title": "get_weather", "description": "Weather for a city",
             "properties": {
                "city": {"type": "string", "description": "City name", "minLength": 1},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
                "when": {"type": ["string", "null"], "format": "date-time"},
                "contact": {"type": "string", "format": "email"}},
             "required": ["city"], "additionalProperties": false}
            """#)
        let good = try JSONValue.parse(#"{"city": "Paris", "unit": "celsius", "days": 3, "when": null, "contact": "a@b.fr"}"#)
        #expect(errors(good, schema).isEmpty)
        let bad = try JSONValue.parse(#"{"unit": "kelvin", "days": 15.0, "when": "soon", "contact": "nobody"}"#)
        #expect(errors(bad, schema) == [
            "/city is required",
            "/contact must be an email address",
            "/days must be at most 14",
            "/unit must be one of: celsius, fahrenheit",
            "/when must be a date-time such as 2024-05-01T12:00:00Z",
        ])
        #expect(errors("Paris", schema) == ["must be an object, got string"])
    }
}
