import ParleyStorage

/// Tables of the web console's sign-in: cookie sessions and one-time sign-in links.
public enum ConsoleSchema {
    public static let migrations: [Migration] = [
        Migration("0100_console_sessions", [
            """
            CREATE TABLE console_sessions (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                api_key_id TEXT NOT NULL REFERENCES api_keys(id),
                session_hash TEXT NOT NULL UNIQUE,
                created_at %TIMESTAMP% NOT NULL,
                last_seen_at %TIMESTAMP% NOT NULL,
                expires_at %TIMESTAMP% NOT NULL
            )
            """,
            "CREATE INDEX console_sessions_key ON console_sessions (tenant_id, api_key_id)",
            """
            CREATE TABLE console_signin_tokens (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                api_key_id TEXT NOT NULL REFERENCES api_keys(id),
                token_hash TEXT NOT NULL UNIQUE,
                created_at %TIMESTAMP% NOT NULL,
                expires_at %TIMESTAMP% NOT NULL,
                used_at %TIMESTAMP%
            )
            """,
        ]),
    ]
}
