// Generated from docs/openapi.yaml by scripts/sync-openapi; a test fails when the two differ.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.1.0
"""#
}
