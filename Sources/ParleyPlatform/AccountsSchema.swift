import ParleyStorage

/// People's accounts (docs/accounts.md): users, their memberships in tenants, refresh-token
/// families, one-time tokens (invitations, password resets), the sign-in failure counters, and a
/// tenant's suspension.
public enum AccountsSchema {
    public static let migrations: [Migration] = [
        Migration("0018_users_auth", [
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                name TEXT,
                password_hash TEXT,
                installation_admin %BOOL% NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                deleted_at %TIMESTAMP%
            )
            """,
            """
            CREATE TABLE memberships (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id),
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                role TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                updated_at %TIMESTAMP% NOT NULL,
                deleted_at %TIMESTAMP%,
                UNIQUE (user_id, tenant_id)
            )
            """,
            "CREATE INDEX memberships_tenant ON memberships (tenant_id, id)",
            """
            CREATE TABLE refresh_tokens (
                id TEXT PRIMARY KEY,
                family_id TEXT NOT NULL,
                user_id TEXT NOT NULL REFERENCES users(id),
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                token_hash TEXT NOT NULL UNIQUE,
                created_at %TIMESTAMP% NOT NULL,
                expires_at %TIMESTAMP% NOT NULL,
                used_at %TIMESTAMP%,
                revoked_at %TIMESTAMP%
            )
            """,
            "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
            """
            CREATE TABLE auth_one_time_tokens (
                id TEXT PRIMARY KEY,
                purpose TEXT NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                email TEXT NOT NULL,
                tenant_id TEXT REFERENCES tenants(id),
                role TEXT,
                created_by TEXT NOT NULL,
                created_at %TIMESTAMP% NOT NULL,
                expires_at %TIMESTAMP% NOT NULL,
                used_at %TIMESTAMP%
            )
            """,
            """
            CREATE TABLE login_failures (
                subject TEXT PRIMARY KEY,
                failures INTEGER NOT NULL,
                window_started_at %TIMESTAMP% NOT NULL
            )
            """,
            // The console signed in with email and password (its key sessions are `console_sessions`).
            """
            CREATE TABLE console_user_sessions (
                id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL REFERENCES tenants(id),
                user_id TEXT NOT NULL REFERENCES users(id),
                session_hash TEXT NOT NULL UNIQUE,
                created_at %TIMESTAMP% NOT NULL,
                last_seen_at %TIMESTAMP% NOT NULL,
                expires_at %TIMESTAMP% NOT NULL
            )
            """,
            "ALTER TABLE tenants ADD COLUMN suspended_at %TIMESTAMP%",
        ]),
    ]
}
