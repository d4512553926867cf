import Foundation
import MCP

/// The built-in calculator: add, subtract, multiply, divide, power over two numbers. Division by
/// zero, an overflow past the largest double, and an answer that is not a real number are tool
/// errors, never `inf` or `nan`.
enum Calculator {
    static let operations: [(name: String, summary: String, apply: @Sendable (Double, Double) throws -> Double)] = [
        ("add", "Add two numbers: a + b.", { $0 + $1 }),
        ("subtract", "Subtract b from a: a - b.", { $0 - $1 }),
        ("multiply", "Multiply two numbers: a × b.", { $0 * $1 }),
        ("divide", "Divide a by b: a ÷ b (b must not be zero).", { a, b in
            guard b != 0 else { throw BuiltinToolError("division by zero: b must not be 0") }
            return a / b
        }),
        ("power", "Raise a to the power b: a^b.", { a, b in
            guard !(a == 0 && b < 0) else { throw BuiltinToolError("division by zero: 0 raised to a negative power") }
            return Foundation.pow(a, b)
        }),
    ]

    static let inputSchema: Value = [
        "type": "object",
        "properties": ["a": ["type": "number", "description": "The first operand"], "b": ["type": "number", "description": "The second operand"]],
        "required": ["a", "b"],
        "additionalProperties": false,
    ]

    static let outputSchema: Value = ["type": "object", "properties": ["result": ["type": "number"]], "required": ["result"]]

    static var tools: [BuiltinTool] {
        operations.map { op in
            BuiltinTool(
                definition: MCP.Tool(name: op.name, description: op.summary, inputSchema: inputSchema,
                                     annotations: .init(readOnlyHint: true, idempotentHint: true, openWorldHint: false), outputSchema: outputSchema),
                run: { arguments in
                    let args = try Arguments(arguments, allowed: ["a", "b"])
                    let result = try compute(op.name, try args.number("a"), try args.number("b"), op.apply)
                    return .structured(["result": result], text: describe(result))
                })
        }
    }

    static func compute(_ name: String, _ a: Double, _ b: Double, _ apply: (Double, Double) throws -> Double) throws -> Value {
        let result = try apply(a, b)
        if result.isNaN { throw BuiltinToolError("the result of \(name) is not a real number") }
        if result.isInfinite { throw BuiltinToolError("overflow: the result of \(name) is beyond ±\(Double.greatestFiniteMagnitude)") }
        // Whole results within a double's exact range go back as integers.
        if result == result.rounded(), abs(result) <= 9_007_199_254_740_992, let int = Int(exactly: result) { return .int(int) }
        return .double(result)
    }

    static func describe(_ value: Value) -> String {
        switch value {
        case .int(let n): String(n)
        case .double(let d): String(d)
        default: "\(value)"
        }
    }
}
