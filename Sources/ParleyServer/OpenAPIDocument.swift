// Generated from docs/openapi/core.yaml by scripts/sync-openapi; the server adds the installed packs'
// parts (ParleyPackKit's OpenAPIAssembly), and a test compares the result with docs/openapi.yaml.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: Parley API
  version: 0.1.0
  summary: Self-hosted AI communications agent server.
  description: |
    Conventions that hold on every route:

    - JSON bodies use snake_case field names. On the tenant, API key and audit routes,
      optional fields that have no value are omitted, never sent as null (a list's
      `next_cursor` is the exception: it is always present). The agent routes
      (chat, workflows, sessions, tools and the `/api` aliases) and the message routes
      (messages, outbox, jobs, templates, consent, inbound SMS) always send every field of
      their objects, with null for no value.
    - Timestamps are ISO 8601 in UTC with milliseconds, e.g. `2026-01-31T09:00:00.000Z`.
      Request timestamps may omit the fractional seconds.
    - Every response carries `X-Request-ID`: the client's own value when it sent a usable one
      (1 to 128 visible ASCII characters, no spaces), otherwise a new UUIDv7.
    - Every failure answers with the error envelope (`Error`) and a matching status, except
      `/ready` and `/`, which answer 503 with their own status JSON.
    - Routes under `/v1`, and `/chat`, `/api/workflows/...` and `/ws`, need
      `Authorization: Bearer <api key>`; the key fixes the tenant and the role (admin,
      operator, viewer, service). Everything such a route reads or changes belongs to the
      key's tenant. A person's access token (`POST /v1/auth/login`) works in its place: the
      tenant is the token's, or the one `X-Tenant: <id or slug>` selects among the account's
      tenants (403 `not_a_member` otherwise), and the role is the account's there. A suspended
      tenant's keys, tokens and sessions get 403 `tenant_suspended`. The web console uses a session cookie instead, which acts as the key it
      was opened with (see `POST /v1/auth/session`).
    - Any path below with a method it does not list answers 405 `method_not_allowed` with an
      `Allow` header; a path that is not below answers 404 `route_not_found`. Neither needs
      authentication.
    - A request whose `Content-Length` exceeds `PARLEY_MAX_BODY_BYTES` (default 1 MiB) answers
      413 `payload_too_large` on any route.
    - Text is stored exactly as acknowledged: a NUL character (`\u0000`) anywhere in a JSON
      body (value or key), a provider webhook's form field, a query parameter or a path
      parameter answers 400 `invalid_text` naming where it is (e.g. `field 'documents[1]'`).
    - Path parameters are percent-decoded once (`/v1/consent/sms/%2B14155550100` is
      `+14155550100`; `%2F` stays inside its segment); an invalid percent sequence (not hex,
      cut short, not UTF-8) answers 400 `invalid_path`.
    - Request timestamps (bodies and query filters) must lie from 2000-01-01T00:00:00Z up to
      2099-12-31T23:59:59Z; others answer 400 `invalid_date` naming the field.
    - The caller's role is checked before the body is read: a key whose role may not do
      something gets 403 `forbidden` saying what ("this key's role (viewer) may not change
      templates"), whatever the body.
    - Input is strict under `/v1`: a body field the operation does not define answers 400
      `unknown_field`, a query parameter it does not define 400 `unknown_parameter`; both name
      it and, when there is an obvious one, the intended name (`recipient` → `to`, `cursor` →
      `before`).
    - Every list, the core's and each pack's, answers `{"data": [...], "next_cursor": ...}`;
      `next_cursor` is always present and null on the last page (and on lists that are not
      paginated). Paging is the same everywhere: `limit` (1 to the route's maximum, otherwise
      400 `invalid_query`) and one cursor parameter whose value is the previous page's
      `next_cursor`. Lists that show the newest first page back in time with `before` (the
      `Before` parameter below); lists read in order (oldest first, as a session's messages,
      or alphabetically, as consent records) page forward with `after` (the `After`
      parameter). A run's event log (`/v1/workflows/{id}/events`) is a stream, not a page: its
      `after` is an event sequence number.
    - Agent run events (the SSE streams, `GET /v1/workflows/{id}/events` and `/ws`) are
      documented in docs/events.md.
    - Rate limits (docs/rate-limits.md): every authenticated route (`/v1`, `/chat`,
      `/api/workflows/...`, the packs' included) draws one token from the caller's key (or
      user) bucket and one from its tenant's; an empty bucket answers 429 `rate_limited`
      (`TooManyRequests`) with `Retry-After` and `RateLimit-Limit`, `RateLimit-Remaining`,
      `RateLimit-Reset` for the bucket that refused. A successful authenticated response carries
      the three `RateLimit-*` headers of the key bucket. `/health`, `/ready` and `/metrics`
      are never limited; the public customer chat has buckets of its own.
servers:
  - url: http://127.0.0.1:8080
    description: The default address of `parley serve`.
tags:
  - name: mcp
    description: |
      Parley as an MCP server (docs/mcp.md): the Model Context Protocol's Streamable HTTP
      transport, protocol versions 2025-11-25 and 2025-06-18, exposing the workspace's tools to
      MCP clients. The body is JSON-RPC 2.0, not Parley's JSON conventions.
  - name: openai
    description: |
      OpenAI's Chat Completions wire format over the workspace's agents (docs/openai-compatible.md):
      a model is one of the workspace's agents, and its tools run on the server.
  - name: operations
    description: Health, readiness, status, metrics and this document. No authentication.
  - name: console
    description: The web console's files and its cookie sign-in.
  - name: tenant
  - name: api-keys
  - name: accounts
    description: People's accounts (docs/accounts.md) - email and password sign-in, access and refresh tokens, invitations, password resets, a tenant's users.
  - name: admin
    description: Installation administration (installation administrators only).
  - name: audit
  - name: customer-chat
    description: The tenant's public chat page and embeddable widget (`/c/{slug}`) for visitors without an API key, and its settings.
  - name: chat
    description: Start agent runs and stream their events.
  - name: workflows
    description: Agent runs, their events and approvals.
  - name: sessions
    description: Conversations that carry context from one run to the next.
  - name: agents
    description: Agents defined as data (prompt, tools, limits, approvals, model), with versions; runs of one.
  - name: flows
    description: Workflows as data (steps, branches, parallel, approvals, delays, sub-flows), versioned; durable executions on the job queue (docs/flows.md).
  - name: conversations
    description: The sessions under seed 004's name, with their messages and tool executions; soft delete.
  - name: tools
    description: The tools the agent can call and each tenant's policy for them.
  - name: mcp
    description: |
      Parley as an MCP client (docs/mcp.md): the tenant's MCP servers (stdio, Streamable HTTP,
      built-in), their discovered tools (offered to agents as `server__tool`), health, calls and
      the record of every call.
  - name: handoffs
    description: |
      Conversations handed to a person (by the `escalate_to_human` tool or the runtime's rules),
      staff replies in the customer's stream, and hand-back to the agent (docs/handoff.md).
  - name: messages
    description: |
      Emails and SMS, queued for a worker to deliver, the outbox they are delivered to, the
      templates they can be written from, and each recipient's consent to receive them.
  - name: webhooks
    description: |
      Delivery statuses and inbound texts from the messaging providers, at
      `/webhooks/{tenant_slug}/...`. No API key: each request must carry the provider's
      signature, checked with the tenant's secret for that provider; without a configured
      secret the route answers 404 `webhook_not_configured` and accepts nothing.
  - name: documents
    description: Documents turned into Markdown (PDF, Word, Excel, PowerPoint, HTML, CSV, JSON, text).
  - name: seed-compatible
    description: Paths kept from seed 000 as aliases.
  - name: websocket
    description: The `/ws` socket. Protocol in docs/events.md.
security: []
paths:
  /health:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getHealth
      summary: Liveness. Answers as long as the process serves HTTP; does not touch the database.
      responses:
        '200':
          description: The process is alive.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Health'
        '400':
          $ref: '#/components/responses/BadRequest'
  /ready:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getReady
      summary: Readiness. The database answers and every migration this binary knows is applied.
      responses:
        '200':
          description: Ready to serve traffic.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Ready'
              example:
                status: ready
        '400':
          $ref: '#/components/responses/BadRequest'
        '503':
          description: Not ready; `reason` says why (database unreachable, migrations pending).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Ready'
              example:
                status: unavailable
                reason: 'migrations pending: 0001_tenants_keys_audit'
  /status:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getStatus
      summary: Service name and version (seed 000 compatible).
      responses:
        '200':
          description: The server is running.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Status'
              example:
                status: running
                service: parley
                version: 0.1.0
        '400':
          $ref: '#/components/responses/BadRequest'
  /:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getRoot
      summary: The web console for browsers; health JSON with a database check for other clients (seed 000 compatible).
      description: |
        A request whose `Accept` header includes `text/html` (what browsers send) gets the web
        console's page, with `Content-Security-Policy` (scripts, styles and connections from
        this server only, no inline script, no eval, never framed), `X-Frame-Options: DENY`,
        `Referrer-Policy: no-referrer`, `X-Content-Type-Options: nosniff`, an `ETag` and
        `Cache-Control: no-cache` (a matching `If-None-Match` answers 304). Any other request
        gets the health JSON below.
      responses:
        '200':
          description: The database answers (or, for a browser, the console page).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            text/html:
              schema:
                type: string
            application/json:
              schema:
                $ref: '#/components/schemas/RootStatus'
              example:
                status: operational
                database: connected
        '400':
          $ref: '#/components/responses/BadRequest'
        '503':
          description: The database does not answer.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/RootStatus'
              example:
                status: degraded
                database: unavailable
  /metrics:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getMetrics
      summary: Prometheus metrics.
      description: |
        Prometheus text exposition format. Includes `parley_http_requests_total` (labels method,
        route, status), `parley_http_request_duration_seconds` (histogram; labels method, route),
        `process_cpu_seconds_total`, `process_resident_memory_bytes`,
        `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
        `process_start_time_seconds`, and `parley_db_pool_connections_in_use` /
        `parley_db_pool_connections_max` (label database: sqlite or postgres),
        `parley_http_requests_in_flight`, and the agent's: `parley_agent_workflows_total` and
        `parley_agent_workflow_duration_seconds` (label status), `parley_agent_tool_executions_total`
        (labels tool, outcome) and `parley_agent_tool_duration_seconds`,
        `parley_agent_model_calls_total` (labels provider, outcome) and
        `parley_agent_model_call_duration_seconds`, `parley_agent_tokens_total` (labels provider,
        direction), `parley_agent_streams_active`, `parley_agent_runs_active`,
        `parley_agent_live_subscribers`. The route label is the route pattern, e.g.
        `/v1/api-keys/{id}`.
      responses:
        '200':
          description: Current metrics.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            text/plain; version=0.0.4; charset=utf-8:
              schema:
                type: string
        '400':
          $ref: '#/components/responses/BadRequest'
  /openapi.yaml:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [operations]
      operationId: getOpenAPI
      summary: This document.
      responses:
        '200':
          description: The OpenAPI document, identical to docs/openapi.yaml.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/yaml; charset=utf-8:
              schema:
                type: string
        '400':
          $ref: '#/components/responses/BadRequest'
  /console/{name}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: name
        in: path
        required: true
        description: A file of the web console (`app.js`, `app.css`, ...), built into the binary from `Console/`.
        schema:
          type: string
    get:
      tags: [console]
      operationId: getConsoleFile
      summary: A web console file. No authentication.
      description: |
        Served with its content type, `X-Content-Type-Options: nosniff`, an `ETag` (from the
        file's SHA-256) and `Cache-Control: no-cache`, so browsers revalidate and a matching
        `If-None-Match` answers 304 with no body.
      responses:
        '200':
          description: The file.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            text/javascript:
              schema:
                type: string
            text/css:
              schema:
                type: string
            image/svg+xml:
              schema:
                type: string
        '304':
          description: The browser's copy is current.
        '400':
          $ref: '#/components/responses/BadRequest'
        '404':
          $ref: '#/components/responses/NotFound'
  /console/packs/{pack}/{name}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: pack
        in: path
        required: true
        description: An installed domain pack (see docs/packs.md).
        schema:
          type: string
      - name: name
        in: path
        required: true
        description: One of the pack's console modules, as `GET /v1/console/views` lists them.
        schema:
          type: string
    get:
      tags: [console]
      operationId: getPackConsoleFile
      summary: A console view's JavaScript module contributed by a pack. No authentication.
      description: Served like `/console/{name}` (content type, `nosniff`, `ETag`, 304 on a matching `If-None-Match`).
      responses:
        '200':
          description: The module.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            text/javascript:
              schema:
                type: string
        '304':
          description: The browser's copy is current.
        '400':
          $ref: '#/components/responses/BadRequest'
        '404':
          $ref: '#/components/responses/NotFound'
  /v1/console/views:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [console]
      operationId: listConsoleViews
      summary: The console views the installed packs contribute
      description: |
        The console reads this after sign-in and adds each view to its navigation: `route` is
        its `#/` path, `label` its navigation entry, `module` the JavaScript module to import and
        `export` the function in it that renders the view.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The views, in the installed packs' order.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data]
                properties:
                  data:
                    type: array
                    items:
                      type: object
                      required: [pack, route, label, module, export]
                      properties:
                        pack: { type: string, examples: [notes] }
                        route: { type: string, examples: [notes] }
                        label: { type: string, examples: [Notes] }
                        module: { type: string, examples: [/console/packs/notes/notes.js] }
                        export: { type: string, examples: [notesView] }
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /v1/auth/session:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [console]
      operationId: signIn
      summary: Sign the web console in, with an API key or a one-time sign-in link. No authentication.
      description: |
        Send exactly one of `api_key`, `token` (the `#signin=` token `parley serve` prints at
        first start: single use, valid for 24 hours), or `email` and `password` (a person's
        account; the session then acts as the person in the tenant, with their role there read
        at each request; failures are throttled like `POST /v1/auth/login`, 429
        `login_throttled`). The answer sets the session cookie
        `parley_session` (`HttpOnly; SameSite=Strict; Path=/; Max-Age=...`, plus `Secure` when
        `PARLEY_PUBLIC_URL` is https). The session acts as the API key: same tenant, role and
        audit actor. It ends after `PARLEY_SESSION_IDLE_MINUTES` without a request, after
        `PARLEY_SESSION_MAX_DAYS` in any case, and as soon as the key is revoked or expires.

        With the cookie, every route that accepts `Authorization: Bearer` accepts the session
        instead (a Bearer header, when present, is used and the cookie ignored). Requests with
        the cookie and a method other than GET, HEAD or OPTIONS must send the session's
        `csrf_token` as `X-CSRF-Token`, or get 403 `csrf_failed`. A WebSocket upgrade on `/ws`
        with the cookie must carry an `Origin` of this server (its `Host`, or
        `PARLEY_PUBLIC_URL`), or get 403 `origin_not_allowed`. Cookie failures answer 401
        `invalid_session` (unknown or malformed), `session_expired` or `session_revoked` (its
        key was revoked or expired). Sign-ins and sign-outs are in the audit log
        (`console.sign_in`, `console.sign_out`).
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/SignInRequest'
            example:
              api_key: prk_7Hq2LmN9xR4sT0uVwXyZ1a2B3c4D5e6F7g8H9i0J1k2
      responses:
        '200':
          description: Signed in; the cookie is set.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
            Set-Cookie:
              description: '`parley_session=<secret>; HttpOnly; SameSite=Strict; Path=/; Max-Age=<seconds>`'
              schema:
                type: string
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ConsoleSession'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `invalid_sign_in` (neither or both of `api_key` and `token`).'
        '401':
          $ref: '#/components/responses/Unauthorized'
          description: '`invalid_api_key`, `api_key_revoked`, `api_key_expired`, `invalid_signin_token` (unknown, used or expired).'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
          description: '`payload_too_large`: sign-in bodies are limited to 4 KiB.'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    get:
      tags: [console]
      operationId: getConsoleSession
      summary: The signed-in console session (so a reloaded page recovers its CSRF token). Session cookie.
      responses:
        '200':
          description: The session.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ConsoleSession'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
          description: '`not_signed_in` (no cookie), `invalid_session`, `session_expired`, `session_revoked`.'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    delete:
      tags: [console]
      operationId: signOut
      summary: Sign the console out. Session cookie and X-CSRF-Token.
      description: |
        Deletes the session and clears the cookie. Without a cookie, or with one that no longer
        works, the cookie is cleared all the same.
      responses:
        '204':
          description: Signed out; `Set-Cookie` clears the cookie.
        '400':
          $ref: '#/components/responses/BadRequest'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`csrf_failed`: a live session is only ended with its CSRF token.'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/auth/login:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [accounts]
      operationId: login
      summary: Sign in with email and password. No authentication.
      description: |
        Answers a short-lived access token (a JWT signed HS256 with a key derived from the
        installation's secret key; `PARLEY_ACCESS_TOKEN_SECONDS`, default 900) and a refresh
        token. Send the access token as `Authorization: Bearer <token>` on any `/v1` route, with
        `X-Tenant: <tenant id or slug>` to act in another of the account's tenants. `tenant`
        chooses the token's tenant (default: the account's first). A wrong email and a wrong
        password answer the same 401 `invalid_credentials`. Failed sign-ins are counted per
        account and per client address; over `PARLEY_LOGIN_MAX_FAILURES_PER_ACCOUNT` (or
        `..._PER_ADDRESS`) in `PARLEY_LOGIN_FAILURE_WINDOW_SECONDS` the answer is 429
        `login_throttled` with `Retry-After`, even with the right password. Every sign-in,
        failure and throttled attempt is audited (`auth.login`, `auth.login_failed`,
        `auth.login_throttled`).
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/LoginRequest'
            example:
              email: ana@example.com
              password: correct horse battery
      responses:
        '200':
          description: Signed in.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/TokenGrant'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/auth/refresh:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [accounts]
      operationId: refreshToken
      summary: Exchange a refresh token for a new access and refresh token. No authentication.
      description: |
        The refresh token is spent: presenting it again answers 401 `refresh_token_reused` and
        revokes every token of that sign-in (audited `auth.refresh_reuse`). Other 401 codes:
        `invalid_refresh_token`, `refresh_token_revoked` (signed out), `refresh_token_expired`
        (`PARLEY_REFRESH_TOKEN_DAYS`), `not_a_member`, `tenant_suspended`.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/RefreshTokenRequest'
      responses:
        '200':
          description: A new pair.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/TokenGrant'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/auth/logout:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [accounts]
      operationId: logout
      summary: Sign out. No authentication.
      description: Revokes the refresh token and every token of its sign-in; access tokens end with their short life.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/RefreshTokenRequest'
      responses:
        '204':
          description: Signed out.
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/auth/accept-invitation:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [accounts]
      operationId: acceptInvitation
      summary: Accept an invitation and sign in. No authentication.
      description: |
        `token` is the one in the invitation email's link. A new account sets its password
        (10 to 256 characters); an email that already has an account sends its current password
        and joins the tenant. The token works once (400 `token_used`) and expires
        (`PARLEY_INVITATION_HOURS`, 400 `token_expired`); an unknown one is 400 `invalid_token`.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/AcceptInvitationRequest'
      responses:
        '201':
          description: The account is a member of the tenant and signed in there.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/TokenGrant'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/auth/password-reset:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [accounts]
      operationId: requestPasswordReset
      summary: Email a password-reset link. No authentication.
      description: |
        Always 202, whether or not the email has an account (nothing is revealed). When it has
        one, an email (template `core.password_reset`) carries a one-time link valid for
        `PARLEY_PASSWORD_RESET_MINUTES`.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [email]
              properties:
                email:
                  type: string
      responses:
        '202':
          description: Accepted.
          content:
            application/json:
              schema:
                type: object
                properties:
                  status:
                    type: string
                    const: accepted
        '400':
          $ref: '#/components/responses/BadRequest'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/auth/password-reset/confirm:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [accounts]
      operationId: confirmPasswordReset
      summary: Set a new password with the link's token. No authentication.
      description: |
        The token works once (400 `token_used`) until it expires (400 `token_expired`). Every
        refresh token of the account is revoked (signed out everywhere). Audited
        `auth.password_reset`.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [token, password]
              properties:
                token:
                  type: string
                password:
                  type: string
                  minLength: 10
                  maxLength: 256
      responses:
        '204':
          description: The password is changed.
        '400':
          $ref: '#/components/responses/BadRequest'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/users:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [accounts]
      operationId: listUsers
      summary: The people who are members of the caller's tenant, with their role there.
      description: Ordered by email; not paginated. Removed members are listed with `include_deleted=true`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: The tenant's users.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/UserList'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/users/invitations:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [accounts]
      operationId: inviteUser
      summary: Invite someone to the tenant by email. Admin only.
      description: |
        Emails a one-time link (template `core.user_invitation`) through the communications
        engine, in the same transaction. 409 `already_a_member` when the email is already a
        member. Audited `user.invite`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [email, role]
              properties:
                email:
                  type: string
                role:
                  type: string
                  enum: [admin, operator, viewer]
      responses:
        '201':
          description: The invitation (the token is only in the email).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Invitation'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '409':
          $ref: '#/components/responses/Conflict'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/users/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: id
        in: path
        required: true
        schema:
          type: string
    patch:
      tags: [accounts]
      operationId: changeUserRole
      summary: Change a member's role in this tenant. Admin only.
      description: Takes effect on the member's next request. An admin may not lower their own role (409 `own_role`). Audited `user.role_change`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [role]
              properties:
                role:
                  type: string
                  enum: [admin, operator, viewer]
      responses:
        '200':
          description: The member.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/User'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '409':
          $ref: '#/components/responses/Conflict'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
    delete:
      tags: [accounts]
      operationId: removeUser
      summary: Remove a member from this tenant (soft, restorable). Admin only.
      description: Their access tokens stop working here at once and their refresh tokens for this tenant are revoked. Audited `user.remove`.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The removed member (`deleted_at` set).
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/User'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '409':
          $ref: '#/components/responses/Conflict'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/users/{id}/restore:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: id
        in: path
        required: true
        schema:
          type: string
    post:
      tags: [accounts]
      operationId: restoreUser
      summary: Bring back a removed member with their role. Admin only.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The member.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/User'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/admin/tenants:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [admin]
      operationId: adminListTenants
      summary: Every tenant of the installation. Installation administrators only.
      description: Others get 403 `installation_admin_required`. Deleted tenants with `include_deleted=true`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: The tenants.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/AdminTenantList'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
    post:
      tags: [admin]
      operationId: adminCreateTenant
      summary: Create a tenant. Installation administrators only.
      description: '`slug` defaults to one made from the name (409 `slug_taken`); `time_zone` is an IANA zone (default UTC). Audited `tenant.create`.'
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties:
                name:
                  type: string
                slug:
                  type: string
                time_zone:
                  type: string
      responses:
        '201':
          description: The tenant.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/AdminTenant'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '409':
          $ref: '#/components/responses/Conflict'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/admin/tenants/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: id
        in: path
        required: true
        description: The tenant's id or slug.
        schema:
          type: string
    get:
      tags: [admin]
      operationId: adminGetTenant
      summary: One tenant. Installation administrators only.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The tenant.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/AdminTenant'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
    patch:
      tags: [admin]
      operationId: adminChangeTenant
      summary: Rename a tenant, move its time zone, suspend or unsuspend it. Installation administrators only.
      description: |
        A suspended tenant's API keys, users and console sessions get 403 `tenant_suspended`
        until it is unsuspended. Audited `tenant.update`, `tenant.suspend`, `tenant.unsuspend`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                name:
                  type: string
                time_zone:
                  type: string
                suspended:
                  type: boolean
      responses:
        '200':
          description: The tenant.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/AdminTenant'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
    delete:
      tags: [admin]
      operationId: adminDeleteTenant
      summary: Delete a tenant (soft). Installation administrators only.
      description: Its keys and users stop working at once. Not the tenant the caller is signed in to (409 `own_tenant`). Audited `tenant.delete`.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The deleted tenant (`deleted_at` set).
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/AdminTenant'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '409':
          $ref: '#/components/responses/Conflict'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
  /v1/tenant:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [tenant]
      operationId: getTenant
      summary: The caller's tenant. Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The tenant the API key belongs to.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Tenant'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    patch:
      tags: [tenant]
      operationId: updateTenant
      summary: Rename the caller's tenant, move it to another time zone or set its hand-off address. Admin only.
      description: |
        Send `name`, `time_zone` and/or `handoff_email`; a field left out keeps its value. The role is checked
        before the body: other roles get 403 whatever they send. When the zone changes, the
        tenant's recurring tasks (`/v1/schedules`) with a wall-clock schedule (daily, weekly,
        monthly) next run at their local time in the new zone, in the same transaction; interval
        tasks keep their next run. Quiet hours and the packs' daily tasks follow the new zone
        from then on; messages already queued keep their due time. Audited as `tenant.update`
        with the old and new values; a request that changes nothing is not audited.
        Also `parley tenant update <slug> --name ... --time-zone ...`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              minProperties: 1
              properties:
                name:
                  type: string
                  minLength: 1
                  maxLength: 200
                  description: Trimmed; 1 to 200 characters on one line, else 400 `invalid_name`.
                time_zone:
                  type: string
                  description: An IANA zone name such as America/Chicago; anything else (abbreviations like EST included) answers 400 `invalid_time_zone`.
                handoff_email:
                  type: [string, 'null']
                  description: |
                    Where staff are emailed about each new hand-off (template `core.handoff_notice`,
                    docs/handoff.md); null removes it, and without one nothing is sent. One address,
                    else 400 `invalid_handoff_email`.
            example:
              name: Smith & Jones LLP
              time_zone: America/Chicago
      responses:
        '200':
          description: The tenant as it is now.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Tenant'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_name`, `invalid_time_zone`, `invalid_handoff_email`, `empty_update` (no field), `invalid_json`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/tenant/packs:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [tenant]
      operationId: listTenantPacks
      summary: The installation's domain packs and whether this tenant uses each. Any role.
      description: |
        The packs listed are those the installation runs (`PARLEY_PACKS`, default every installed
        pack; docs/packs.md). A pack the tenant switched off offers no tools to its agent, its
        offline-planner intents do not match, its recurring tasks skip the tenant, its `/v1`
        routes answer 404 `pack_disabled`, and its console views are not listed.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: Every pack the installation runs, in order.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/TenantPackList'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
    put:
      tags: [tenant]
      operationId: setTenantPacks
      summary: Switch packs on or off for this tenant. Admin; audited (`tenant_packs.set`).
      description: |
        Names not sent keep their state. Messages a switched-off pack already queued stay in the
        queue and are delivered (cancel them with `POST /v1/jobs/{id}/cancel` if they should not
        go); nothing new is queued by the pack while it is off. Its data stays and is there again
        when it is switched back on.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [packs]
              properties:
                packs:
                  type: object
                  minProperties: 1
                  description: Pack name to `true` (on) or `false` (off).
                  additionalProperties:
                    type: boolean
                  examples:
                    - { notes: false }
      responses:
        '200':
          description: The packs after the change.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/TenantPackList'
        '400':
          description: '`unknown_pack` (the message names it and lists the installed packs), `empty_update` or `invalid_json`.'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /v1/tenant/widget:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [customer-chat]
      operationId: getWidgetSettings
      summary: The tenant's customer chat page and widget settings. Any role.
      description: |
        `public_key` is null until the settings are first saved. The page is at `page_path`
        (`/c/{slug}`) and the embeddable script at `widget_script_path`; docs/support.md, "The
        customer chat page".
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The settings.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/WidgetSettings'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
    put:
      tags: [customer-chat]
      operationId: setWidgetSettings
      summary: Change the chat page's settings. Admin; audited (`widget.update`).
      description: |
        Fields not sent keep their value; the first save creates the public key. A `null` title
        or greeting clears it. `allowed_origins` replaces the list: the sites (scheme, host and
        port, no path) whose pages may call the visitor API and frame the chat page; the page
        Parley serves itself is always allowed.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              properties:
                enabled:
                  type: boolean
                allowed_origins:
                  type: array
                  maxItems: 50
                  items:
                    type: string
                  examples:
                    - ["https://shop.example", "http://localhost:3000"]
                title:
                  type: [string, 'null']
                  maxLength: 80
                greeting:
                  type: [string, 'null']
                  maxLength: 500
      responses:
        '200':
          description: The settings after the change.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/WidgetSettings'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_allowed_origins` (not an origin, or more than 50), `invalid_title`, `invalid_greeting`, `invalid_enabled`, `unknown_field`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /v1/tenant/limits:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [tenant]
      operationId: getTenantLimits
      summary: The tenant's rate limits (its key and tenant buckets). Any role.
      description: |
        The figures in force, each marked `default` (the installation's `PARLEY_RATE_LIMIT_*`
        settings) or `tenant` (set with `PUT`). docs/rate-limits.md.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The limits.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
            RateLimit-Limit:
              $ref: '#/components/headers/RateLimit-Limit'
            RateLimit-Remaining:
              $ref: '#/components/headers/RateLimit-Remaining'
            RateLimit-Reset:
              $ref: '#/components/headers/RateLimit-Reset'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/TenantLimits'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '429':
          $ref: '#/components/responses/TooManyRequests'
    put:
      tags: [tenant]
      operationId: setTenantLimits
      summary: Set the tenant's own rate limits. Admin; audited (`tenant.limits.update`).
      description: |
        `key` and `tenant` each take both figures, or null to go back to the installation's
        default; a field not sent keeps its value. This server applies a change at once, other
        replicas within 10 seconds.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              properties:
                key:
                  $ref: '#/components/schemas/TokenBucketChange'
                tenant:
                  $ref: '#/components/schemas/TokenBucketChange'
            examples:
              tighter:
                value: {"key": {"capacity": 60, "refill_per_minute": 120}, "tenant": null}
      responses:
        '200':
          description: The limits after the change.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
            RateLimit-Limit:
              $ref: '#/components/headers/RateLimit-Limit'
            RateLimit-Remaining:
              $ref: '#/components/headers/RateLimit-Remaining'
            RateLimit-Reset:
              $ref: '#/components/headers/RateLimit-Reset'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/TenantLimits'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_limits` (not both figures as integers, or out of range; the message names the field), `unknown_field` (also inside `key` or `tenant`).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /v1/tenant/widget/rotate-key:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [customer-chat]
      operationId: rotateWidgetKey
      summary: Replace the chat widget's public key. Admin; audited (`widget.rotate_key`).
      description: |
        Sites embedding the widget with the old key get 401 `invalid_widget_key` when a visitor
        starts a conversation, until they are given the new key. Conversations already started
        go on.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The settings with the new key.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/WidgetSettings'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /v1/api-keys:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [api-keys]
      operationId: listAPIKeys
      summary: All of the tenant's API keys, including expired ones. Admin only.
      description: |
        Oldest first. Secrets are never listed. Not paginated: the whole list comes in one page
        and `next_cursor` is always null. Revoked (soft-deleted) keys are listed with
        `include_deleted=true` (docs/soft-delete.md).
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: The tenant's keys.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/APIKeyList'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    post:
      tags: [api-keys]
      operationId: createAPIKey
      summary: Create an API key in the caller's tenant. Admin only.
      description: |
        The response is the only place the key's `secret` ever appears; store it then. An
        `api_key.create` row is written to the audit log in the same transaction.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/CreateAPIKeyRequest'
            example:
              name: ci pipeline
              role: service
              expires_at: '2027-01-01T00:00:00Z'
      responses:
        '201':
          description: The new key, with its secret.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/APIKey'
              example:
                id: 019b2f6e-8a1c-7d3e-9f40-5b6c7d8e9f01
                tenant_id: 019b2f6e-0000-7abc-8def-0123456789ab
                name: ci pipeline
                role: service
                prefix: prk_7Hq2LmN9xR4s
                created_at: '2026-01-31T09:00:00.000Z'
                expires_at: '2027-01-01T00:00:00.000Z'
                secret: prk_7Hq2LmN9xR4sVb8KdT1wYz3PqJ6uE0aFgHcXnM5oLiS
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/api-keys/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: id
        in: path
        required: true
        description: The key's id.
        schema:
          type: string
    delete:
      tags: [api-keys]
      operationId: revokeAPIKey
      summary: Revoke (soft-delete) an API key. Admin only.
      description: |
        Requests using the key answer 401 `api_key_revoked` from then on; `POST
        /v1/api-keys/{id}/restore` within `PARLEY_RETENTION_DAYS` makes it work again, after which
        it is purged. Revoking a key that is already revoked changes nothing and returns it as it
        is. The first revocation writes an `api_key.revoke` audit row in the same transaction.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The revoked key (no secret).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/APIKey'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/api-keys/{id}/restore:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: id
        in: path
        required: true
        description: The key's id.
        schema:
          type: string
    post:
      tags: [api-keys]
      operationId: restoreAPIKey
      summary: Restore a revoked API key within the retention period. Admin only.
      description: It authenticates again at once. Restoring a live key returns it unchanged. Audited (`api_key.restore`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The key (`revoked_at` and `deleted_at` absent).
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/APIKey'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`api_key_not_found` (also once purged), `restore_window_passed` (deleted more than `PARLEY_RETENTION_DAYS` ago).'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/audit-log:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [audit]
      operationId: listAuditLog
      summary: The tenant's audit log, newest first. Admin only.
      description: |
        To page, pass the previous page's `next_cursor` as `before`. `next_cursor` is null on
        the last page.
      security:
        - bearerAuth: []
      parameters:
        - name: limit
          in: query
          description: Entries per page. Outside 1 to 500 answers 400 `invalid_query`.
          schema:
            type: integer
            minimum: 1
            maximum: 500
            default: 50
        - $ref: '#/components/parameters/Before'
        - name: action
          in: query
          description: Only entries with exactly this action, e.g. `api_key.create`.
          schema:
            type: string
            examples: [tenant.create, api_key.create, api_key.revoke]
      responses:
        '200':
          description: One page of entries.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/AuditLogPage'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/models:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [openai]
      operationId: listModels
      summary: The workspace's agents, as OpenAI models. Any role that may chat.
      description: |
        Every agent of the workspace (the built-in `assistant` included) as `{"id", "object":
        "model", "created", "owned_by"}`, where `id` is the agent's name. Errors carry OpenAI's
        `type` and `param` besides Parley's `code`, `message` and `request_id`.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The agents.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/OpenAIModelList'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/models/{model}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: model
        in: path
        required: true
        description: An agent's name or id.
        schema:
          type: string
    get:
      tags: [openai]
      operationId: getModel
      summary: One agent, as an OpenAI model.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The agent.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/OpenAIModel'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`model_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/chat/completions:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [openai]
      operationId: createChatCompletion
      summary: Run an agent from an OpenAI Chat Completions request. Admin, operator or service.
      description: |
        The request's messages become a run of the agent `model` names: the last message (from
        the user) is what the agent answers, earlier `user` and `assistant` messages are the
        conversation so far, and `system` or `developer` messages reach the agent as
        instructions inside the conversation (they add to the agent's own prompt, never replace
        it). The agent's tools run on the server, so `tools`, `tool_choice` and `tool` messages
        are refused. Sampling parameters (`temperature`, `top_p`, `max_tokens`, ...) are accepted
        and not applied: the agent's definition decides them.

        Without `stream`, the answer is a `chat.completion` once the run ends. With
        `stream: true`, `chat.completion.chunk` events (`data: <json>`) follow the run's text,
        then a chunk with `finish_reason`, then, with `stream_options.include_usage`, a chunk
        with `usage` and no choices, then `data: [DONE]`. A run that fails after the stream began
        ends with a `data: {"error": ...}` event. A run that stops for a person (an approval or a
        hand-off) answers at once with a message naming the run; `parley.status` is `WAITING`.
        The run's id is in `parley.workflow_id` and the `X-Parley-Workflow-ID` header.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/ChatCompletionRequest'
            example:
              model: assistant
              messages:
                - role: user
                  content: Give me an account overview
      responses:
        '200':
          description: The answer (or, with `stream`, a stream of chunks).
          headers:
            X-Parley-Workflow-ID:
              description: The run behind the answer.
              schema:
                type: string
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ChatCompletion'
            text/event-stream:
              schema:
                $ref: '#/components/schemas/ChatCompletionServerSentEvent'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_request`, `unknown_field`, `unsupported_parameter` (client-side tools, `response_format`, ...).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`model_not_found`: no agent of that name or id.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
          description: '`database_unavailable`, or the run failed (its error type as `code`).'
  /v1/chat:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [chat]
      operationId: chat
      summary: Start an agent run and stream its events. Admin, operator or service.
      description: |
        Records a new run (status `PROCESSING`) and starts it in the background, then answers
        with a Server-Sent Events stream of the run's events from `seq` 1 until its terminal
        event (`workflow_completed` or `workflow_error`), after which the stream ends. The run
        goes on if the client disconnects; follow it again with
        `GET /v1/workflows/{id}/events`.

        With `session_id`, the message is appended to the session (in the same transaction that
        records the run) and recent session history is sent to the model; the answer is appended
        when the run completes.

        Framing: each event is `id: <seq>`, `event: <type>`, `data: <event JSON on one line>`,
        then a blank line. While the run is quiet (including while it waits for an approval)
        a `heartbeat` event is sent every `PARLEY_HEARTBEAT_SECONDS` (default 30); heartbeats
        have no `id:` line, so a reconnecting client resumes after the last real event. Event
        types and fields: docs/events.md.

        Once the stream has started the status is 200 whatever happens to the run; a failed
        or cancelled run ends with a `workflow_error` event. Errors listed below are answered
        before the stream starts.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/ChatRequest'
            example:
              message: show recent runs
      responses:
        '200':
          $ref: '#/components/responses/EventStream'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `empty_message`, `message_too_long`, `invalid_session_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer keys may not start runs.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`session_not_found`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /mcp:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: Mcp-Session-Id
        in: header
        required: false
        description: The session `initialize` returned in this header; required on every later message.
        schema:
          type: string
      - name: MCP-Protocol-Version
        in: header
        required: false
        description: The negotiated protocol version (`2025-11-25` or `2025-06-18`); when sent, it must be the session's.
        schema:
          type: string
    post:
      tags: [mcp]
      operationId: mcpMessage
      summary: Send one JSON-RPC message to Parley's MCP server. Any key; the tools listed follow its role.
      description: |
        One JSON-RPC 2.0 message per request (no batches). Methods: `initialize` (answers with
        the session id in `Mcp-Session-Id`), `ping`, `tools/list`, `tools/call`; notifications
        (`notifications/initialized`, ...) and responses are accepted with 202 and no body. A
        `server/discover` probe (newer protocol revisions) answers `-32601`, so such a client
        falls back to `initialize`. The answer is JSON when `Accept` allows it, else one
        server-sent event (`event: message`, the JSON-RPC response as `data`).

        `tools/list` returns the tools the caller's role may use, of the packs the workspace has
        on, not disabled by its policy, with their JSON schemas, `annotations`
        (`readOnlyHint`, `destructiveHint`) and under `_meta` `parley/permission`,
        `parley/side_effects` and `parley/approval` (`required` when a call waits for a person).
        `tools/call` runs the tool as an agent run of its own (its id in the result's `_meta`
        `parley/workflow_id`), with the same input validation, timeout and audit as a model's
        call. A tool that needs approval does not run: the result (not an error) names the run
        and the approval in `structuredContent`; approving it (`POST
        /v1/workflows/{id}/approvals/{approval_id}`) runs the tool in that run. A tool the caller
        may not call is a `-32602` error whose `data.code` says why: `tool_not_found`,
        `tool_unavailable` (its pack is off), `tool_disabled` (the workspace's policy),
        `forbidden` (the role), `tool_conversation_only`.

        JSON-RPC errors: `-32700` (not JSON, 400), `-32600` (not a valid message, 400; no or an
        unknown session: 400 or 404), `-32601` (unknown method), `-32602` (bad params),
        `-32603` (internal). A request with an `Origin` other than the public URL or a loopback
        page is refused with 403 (DNS rebinding).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/MCPMessage'
            example:
              jsonrpc: '2.0'
              id: 1
              method: initialize
              params:
                protocolVersion: '2025-11-25'
                capabilities: {}
                clientInfo:
                  name: example
                  version: '1.0'
      responses:
        '200':
          description: The JSON-RPC response (a result or a JSON-RPC error).
          headers:
            Mcp-Session-Id:
              description: On `initialize`, the new session.
              schema:
                type: string
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPResponse'
            text/event-stream:
              schema:
                $ref: '#/components/schemas/MCPServerSentEvent'
        '202':
          description: A notification or a response was accepted; there is no answer.
        '400':
          description: Not JSON (`-32700`), not a valid message, no session, a protocol version that is not the session's (`-32600`); or a NUL in the query (Parley's error).
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPErrorBody'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          description: A foreign `Origin` (`-32600`), or a console cookie without its CSRF token (Parley's error).
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPErrorBody'
        '404':
          description: The session is not open for this caller (ended, expired, another key's, never opened); initialize again.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPResponse'
        '406':
          description: '`Accept` allows neither `application/json` nor `text/event-stream`.'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPResponse'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          description: The body is not sent as `application/json`.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPResponse'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    delete:
      tags: [mcp]
      operationId: mcpEndSession
      summary: End the MCP session named in `Mcp-Session-Id`.
      security:
        - bearerAuth: []
      responses:
        '204':
          description: The session ended, and later messages with it are answered 404.
        '400':
          description: No `Mcp-Session-Id` header (`-32600`), or a NUL in the query (Parley's error).
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPErrorBody'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          description: A foreign `Origin` (`-32600`), or a console cookie without its CSRF token (Parley's error).
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPErrorBody'
        '404':
          description: No open session of this caller with that id.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPResponse'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /chat:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [seed-compatible]
      operationId: chatSeed
      summary: Alias of `POST /v1/chat` (seed 000 path). Same body, stream and errors.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/ChatRequest'
      responses:
        '200':
          $ref: '#/components/responses/EventStream'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `empty_message`, `message_too_long`, `invalid_session_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer keys may not start runs.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`session_not_found`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/workflows:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [workflows]
      operationId: listWorkflows
      summary: The tenant's agent runs, newest first. Any role.
      description: |
        To page, pass the previous page's `next_cursor` as `before`. `next_cursor` is null on
        the last page. Filters combine with AND.
      security:
        - bearerAuth: []
      parameters:
        - name: status
          in: query
          description: |
            Only runs in this status; case-insensitive. Any other value answers 400
            `invalid_query`.
          schema:
            type: string
            enum: [PENDING, PROCESSING, WAITING_APPROVAL, WAITING_HUMAN, COMPLETED, FAILED, CANCELLED]
        - name: session_id
          in: query
          description: Only runs of this session. Not validated; an unknown id matches nothing.
          schema:
            type: string
        - name: created_after
          in: query
          description: Only runs created at or after this time (ISO 8601); otherwise 400 `invalid_query`.
          schema:
            type: string
            format: date-time
        - name: created_before
          in: query
          description: Only runs created strictly before this time (ISO 8601); otherwise 400 `invalid_query`.
          schema:
            type: string
            format: date-time
        - $ref: '#/components/parameters/Before'
        - name: limit
          in: query
          description: Runs per page. Outside 1 to 200 answers 400 `invalid_query`.
          schema:
            type: integer
            minimum: 1
            maximum: 200
            default: 50
      responses:
        '200':
          description: One page of runs.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/WorkflowPage'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/workflows/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/WorkflowID'
    get:
      tags: [workflows]
      operationId: getWorkflow
      summary: One run with all its approvals. Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The run; `approvals` lists every approval of the run, oldest first, whatever its status.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/WorkflowWithApprovals'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_workflow_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`workflow_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/workflows/{id}/events:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/WorkflowID'
    get:
      tags: [workflows]
      operationId: getWorkflowEvents
      summary: Replay and follow a run's events (SSE), or read them as JSON. Any role.
      description: |
        As a stream (the default): replays the stored events after the cursor, then follows
        the run live until its terminal event, when the stream ends. Framing and heartbeats are
        as on `POST /v1/chat`. A run waiting for approval has no terminal event yet, so its
        stream stays open with heartbeats.

        The cursor is the `Last-Event-ID` header (what EventSource sends when it reconnects) or,
        without it, the `after` query parameter; the header wins. Without either, the stream
        starts at `seq` 1. A cursor beyond the run's last event answers 400
        `invalid_last_event_id`.

        Resuming a finished run at (or after) its terminal event replays nothing and the
        stream then stays open with heartbeats only, so clients should close their
        EventSource when they see a terminal event.

        With an `Accept` header containing `application/json`, the answer is instead
        `{"data": [...]}`: up to 10,000 stored events after the cursor, in `seq` order, no
        heartbeats and no `next_cursor`. In this form a cursor beyond the last event returns an
        empty list.
      security:
        - bearerAuth: []
      parameters:
        - name: Last-Event-ID
          in: header
          description: The `seq` of the last event the client has; a non-negative integer, otherwise 400 `invalid_last_event_id`.
          schema:
            type: integer
            minimum: 0
        - name: after
          in: query
          description: Same as `Last-Event-ID`; ignored when that header is present.
          schema:
            type: integer
            minimum: 0
            default: 0
      responses:
        '200':
          description: The event stream, or the stored events as JSON.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            text/event-stream:
              schema:
                $ref: '#/components/schemas/WorkflowServerSentEvent'
            application/json:
              schema:
                $ref: '#/components/schemas/WorkflowEventList'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_workflow_id`, `invalid_last_event_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`workflow_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/workflows/{id}/cancel:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/WorkflowID'
    post:
      tags: [workflows]
      operationId: cancelWorkflow
      summary: Cancel a run that has not ended. Admin, operator or service.
      description: |
        No body. Any key with a role that may start runs may cancel any run of the tenant.

        - A run executing in this server process is stopped; the call returns once the run has
          recorded its end (`workflow_error` with `error_type` `cancelled`, status `CANCELLED`).
        - A run waiting for approval is cancelled at once, with the same event. Its pending
          approvals keep the status `pending`; deciding them afterwards answers 409
          `workflow_not_waiting`.
        - A run executing in another process is flagged; that process stops it before its next
          model call. The response then still shows `PROCESSING`; watch the events for the end.

        The ended-run check comes first: cancelling a finished run answers 409 whatever the
        caller's role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The run as it is after the request.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Workflow'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_workflow_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer keys may not cancel runs.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`workflow_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`workflow_finished`: the run is already COMPLETED, FAILED or CANCELLED.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/workflows/{id}/approvals:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/WorkflowID'
    get:
      tags: [workflows]
      operationId: listWorkflowApprovals
      summary: Every approval of a run, oldest first, whatever its status. Any role.
      description: Not paginated; `next_cursor` is always null.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The run's approvals.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ApprovalList'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_workflow_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`workflow_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/workflows/{id}/approvals/{approval_id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/WorkflowID'
      - name: approval_id
        in: path
        required: true
        description: The approval's id (UUIDv7); anything else answers 400 `invalid_approval_id`.
        schema:
          type: string
          format: uuid
    post:
      tags: [workflows]
      operationId: decideApproval
      summary: Approve or deny a pending tool call. Admin or operator.
      description: |
        Records the decision, writes an `approval.approve` or `approval.deny` audit row and
        appends an `approval_resolved` event, all in one transaction. When no other approval of
        the run is still pending, the run goes back to `PROCESSING` and resumes in this server
        process: approved calls run (`tool_start`, `tool_end`), denied ones get a `tool_end`
        with status `denied`, and the model continues with the results.

        `comment` is trimmed and cut to 2,000 characters; it is shown to the model when the
        call is denied.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/ApprovalDecision'
            example:
              decision: approve
              comment: ok, that key leaked
      responses:
        '200':
          description: The decided approval.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Approval'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `invalid_decision`, `invalid_approval_id`, `invalid_workflow_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer and service keys may not decide approvals.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`workflow_not_found`, `approval_not_found` (no such approval on this run).'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`approval_already_resolved`; `workflow_not_waiting` (the run is not WAITING_APPROVAL, e.g. it was cancelled).'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/sessions:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [sessions]
      operationId: listSessions
      summary: The tenant's sessions, newest first. Any role.
      description: To page, pass the previous page's `next_cursor` as `before`; `next_cursor` is null on the last page.
      security:
        - bearerAuth: []
      parameters:
        - name: limit
          in: query
          schema:
            type: integer
            minimum: 1
            maximum: 200
            default: 50
        - $ref: '#/components/parameters/Before'
      responses:
        '200':
          description: A page of sessions.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/Session'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`, `invalid_session_id` (`before`).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    post:
      tags: [sessions]
      operationId: createSession
      summary: Create a conversation session. Admin, operator or service.
      description: |
        The body is optional: a request with `Content-Length: 0` creates an untitled session.
        Any other request must carry a JSON body.
      security:
        - bearerAuth: []
      requestBody:
        required: false
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/CreateSessionRequest'
            example:
              title: Key rotation
      responses:
        '201':
          description: The new session.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Session'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `invalid_title` (over 200 characters).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer keys may not create sessions.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/sessions/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/SessionID'
    get:
      tags: [sessions]
      operationId: getSession
      summary: One session. Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The session.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Session'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_session_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`session_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    patch:
      tags: [sessions]
      operationId: renameSession
      summary: Rename a session. Admin, operator or service.
      description: The title is trimmed; an empty or null title clears it.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/CreateSessionRequest'
            example:
              title: Smyth intake
      responses:
        '200':
          description: The renamed session.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Session'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `invalid_session_id`, `invalid_title` (over 200 characters).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`session_not_found`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/sessions/{id}/messages:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/SessionID'
    get:
      tags: [sessions]
      operationId: listSessionMessages
      summary: A session's messages, oldest first. Any role.
      description: |
        The user's message is stored when a run starts; the assistant's answer when the run
        completes (a run that fails or is cancelled adds no assistant message). To page, pass
        the previous page's `next_cursor` as `after`; `next_cursor` is null on the last page.
      security:
        - bearerAuth: []
      parameters:
        - name: limit
          in: query
          description: Messages per page. Outside 1 to 500 answers 400 `invalid_query`.
          schema:
            type: integer
            minimum: 1
            maximum: 500
            default: 100
        - $ref: '#/components/parameters/After'
      responses:
        '200':
          description: One page of messages.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/SessionMessagePage'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_session_id`, `invalid_query`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`session_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    post:
      tags: [sessions]
      operationId: postSessionMessage
      summary: Send a message in a session and wait for the answer, without streaming. Admin, operator or service.
      description: |
        Starts a run in the session as `POST /v1/chat` does, then waits until the run ends or
        pauses for approval:

        - 200: the run ended; the body is the run (`COMPLETED` with `final_response`, or
          `FAILED` / `CANCELLED` with `error_type` and `error_message`).
        - 202: the run is `WAITING_APPROVAL`; the body is the run plus `approvals`, its pending
          approvals. Decide them with `POST /v1/workflows/{id}/approvals/{approval_id}` and
          follow the rest with `GET /v1/workflows/{id}/events`.

        The request has no time limit of its own beyond the run's (`PARLEY_AGENT_TIMEOUT_SECONDS`).
        If the event stream it waits on ends early (server shutdown, database failure), the run
        is returned as it stands, which may be `PROCESSING`, with status 200.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/PostSessionMessageRequest'
            example:
              content: give me an account overview
      responses:
        '200':
          description: The run, ended.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Workflow'
        '202':
          description: The run, paused for approval, with its pending approvals.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/WorkflowWithApprovals'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `empty_message` (also when neither `content` nor `message` is sent), `message_too_long`, `invalid_session_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer keys may not start runs.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`session_not_found`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/handoffs:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [handoffs]
      operationId: listHandoffs
      summary: The hand-off inbox, newest first. Any role.
      description: |
        Open hand-offs (`open` and `claimed`) unless `state` says otherwise. To page, pass the
        previous page's `next_cursor` as `before`; `next_cursor` is null on the last page.
      security:
        - bearerAuth: []
      parameters:
        - name: state
          in: query
          description: |
            One or more of `open`, `claimed`, `returned`, comma-separated. Anything else answers
            400 `invalid_query`.
          schema:
            type: string
            example: open,claimed
        - name: limit
          in: query
          schema:
            type: integer
            minimum: 1
            maximum: 200
            default: 50
        - $ref: '#/components/parameters/Before'
      responses:
        '200':
          description: A page of hand-offs.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/Handoff'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`, `invalid_handoff_id` (`before`), `unknown_parameter`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/handoffs/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/HandoffID'
    get:
      tags: [handoffs]
      operationId: getHandoff
      summary: A hand-off with its whole conversation. Any role.
      description: |
        The hand-off, its session (with the stored `summary`), the session's messages (the
        customer's, the agent's and the staff's, oldest first, the last 500) and its runs (the
        last 50) with their events as the session shows them: tool calls and results,
        citations, approvals, `handoff`, `customer_message`, `human_message`, `handback` (streamed
        text deltas are left out; the answer is in the messages). Follow the live conversation
        on `GET /v1/workflows/{workflow_id}/events`.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The hand-off and its conversation.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/HandoffConversation'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_handoff_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`handoff_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/handoffs/{id}/claim:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/HandoffID'
    post:
      tags: [handoffs]
      operationId: claimHandoff
      summary: Take a hand-off. Admin or operator.
      description: Taking one the caller already took changes nothing. No body is read. Audited as `handoff.claim`.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The claimed hand-off.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Handoff'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_handoff_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer and service keys may not take hand-offs.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`handoff_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`handoff_claimed` (someone else took it), `handoff_not_open` (already handed back).'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/handoffs/{id}/messages:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/HandoffID'
    post:
      tags: [handoffs]
      operationId: replyToHandoff
      summary: A staff reply in the customer's conversation. Admin or operator.
      description: |
        Stored in the session (role `staff`) and sent in the hand-off's run stream as a
        `human_message` event (with the replier's `actor` and key `name`), which the customer's
        open stream (SSE or WebSocket) shows in place. An `open` hand-off is claimed by the
        replier. Audited as `handoff.reply`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/HandoffReplyRequest'
            example:
              text: Hi, I'm Sam from support. I've refunded your order.
      responses:
        '201':
          description: The hand-off and the `human_message` event.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [handoff, event]
                properties:
                  handoff:
                    $ref: '#/components/schemas/Handoff'
                  event:
                    $ref: '#/components/schemas/WorkflowEvent'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `unknown_field`, `invalid_handoff_id`, `empty_message`, `message_too_long`, `invalid_text`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer and service keys may not reply to hand-offs.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`handoff_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`handoff_not_open`: the conversation was already handed back to the agent.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/handoffs/{id}/return:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/HandoffID'
    post:
      tags: [handoffs]
      operationId: returnHandoff
      summary: Hand the conversation back to the agent. Admin or operator.
      description: |
        The session is the agent's again and the paused run continues (a `handback` event, then
        the agent's answer) with everything said meanwhile in its context: the customer's
        messages, the staff's replies, and the optional `note` (in its instructions, not shown
        to the customer). The body is optional. Audited as `handoff.return`.
      security:
        - bearerAuth: []
      requestBody:
        required: false
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/HandBackRequest'
            example:
              note: Refund done; offer the 10% voucher if they ask again.
      responses:
        '200':
          description: The returned hand-off.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Handoff'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `unknown_field`, `invalid_handoff_id`, `note_too_long` (over 2000 characters), `invalid_text`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer and service keys may not hand conversations back.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`handoff_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`handoff_not_open`: already handed back.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/tools:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [tools]
      operationId: listTools
      summary: Every tool installed in this server, with the tenant's policy for it. Any role.
      description: |
        In registration order. Lists all installed tools, including those the caller's role
        may not use (the agent only offers a run the tools its starter's role allows). Not
        paginated; `next_cursor` is always null.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The tools.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ToolList'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/tools/{name}/policy:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: name
        in: path
        required: true
        description: The tool's name, e.g. `revoke_api_key`.
        schema:
          type: string
    put:
      tags: [tools]
      operationId: setToolPolicy
      summary: Set how the agent may use a tool in this tenant. Admin only.
      description: |
        Takes effect for runs from their next start or resume. Writes a `tool_policy.set` audit
        row in the same transaction.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/SetToolPolicyRequest'
            example:
              mode: auto
      responses:
        '200':
          description: The tool with its new mode.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Tool'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `invalid_mode` (not exactly `auto`, `require_approval` or `disabled`).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: only admin keys may change tool policies.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`tool_not_found`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/agents:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [agents]
      operationId: listAgents
      summary: The tenant's agents, newest first (the default `assistant` included). Any role.
      description: |
        The tenant's default agent (`assistant`, the built-in assistant that answers `/v1/chat`)
        is created the first time anything needs it. Deleted agents are hidden unless
        `include_deleted=true`. To page, pass the previous page's `next_cursor` as `before`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/Limit50'
        - $ref: '#/components/parameters/Before'
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: A page of agents.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/Agent'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`, `invalid_agent_id` (`before`).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    post:
      tags: [agents]
      operationId: createAgent
      summary: Define an agent (version 1). Admin.
      description: |
        `name` is required; every other field has a default (see `AgentRequest`). Tool names
        (in `tools` and `approval_overrides`) must be tools of this server (`GET /v1/tools`);
        an unknown one answers 400 `unknown_tool` naming it. Audited (`agent.create`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/AgentRequest'
            example:
              name: support-bot
              description: Answers customers from the help centre
              system_prompt: You answer customers' questions from the knowledge base, briefly.
              tools: [search_knowledge]
              limits: {max_tokens: 1024, max_iterations: 4}
      responses:
        '201':
          description: The new agent.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Agent'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `unknown_field`, `invalid_agent`, `unknown_tool`, `provider_not_configured`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: only admin keys define agents.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`agent_name_taken`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/agents/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/AgentRef'
    get:
      tags: [agents]
      operationId: getAgent
      summary: One agent at its current version (a deleted one only with `include_deleted=true`, with `deleted_at`). Any role.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: The agent.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Agent'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`: `include_deleted` is not true or false, or an unknown parameter.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`agent_not_found`; `agent_deleted` (with the date until which it can be restored) unless `include_deleted=true`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    patch:
      tags: [agents]
      operationId: updateAgent
      summary: Change an agent; writes a new version. Admin.
      description: |
        Fields sent replace the current ones; fields left out stay; `null` resets a field to its
        default (`system_prompt`: the workspace's composed prompt; `tools`: every tool of the
        workspace's packs; `model`: the server's models). `limits` changes only the keys sent.
        Runs in progress keep the version they started with. Audited (`agent.update`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/AgentRequest'
            example:
              approval_overrides: {echo: require_approval}
      responses:
        '200':
          description: The agent at its new version.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Agent'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `unknown_field`, `invalid_agent`, `unknown_tool`, `provider_not_configured`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`agent_not_found`, `agent_deleted` (restore it first).'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`agent_name_taken`, `agent_changed` (another change was written meanwhile).'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    delete:
      tags: [agents]
      operationId: deleteAgent
      summary: Soft-delete an agent (hidden, not runnable, restorable). Admin.
      description: The default agent cannot be deleted (409 `default_agent`); change it instead. Audited (`agent.delete`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The deleted agent (`deleted_at` set).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Agent'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`agent_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`default_agent`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/agents/{id}/restore:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/AgentRef'
    post:
      tags: [agents]
      operationId: restoreAgent
      summary: Restore a deleted agent. Admin.
      description: 409 `agent_name_taken` when a live agent has taken its name meanwhile. Audited (`agent.restore`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The agent (`deleted_at` null).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Agent'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`agent_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`agent_name_taken`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/agents/{id}/versions:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/AgentRef'
    get:
      tags: [agents]
      operationId: listAgentVersions
      summary: Every version of an agent, newest first. Any role.
      description: To page, pass the previous page's `next_cursor` (a version number) as `before`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/Limit50'
        - $ref: '#/components/parameters/Before'
      responses:
        '200':
          description: A page of versions.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/AgentVersion'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`agent_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/agents/{id}/execute:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/AgentRef'
    post:
      tags: [agents]
      operationId: executeAgent
      summary: Run an agent and stream its events, exactly like `POST /v1/chat`. Admin, operator or service.
      description: |
        The run uses the agent's current version: its prompt, only its tools, its limits, its
        approval overrides (before the tenant's tool policies) and its model. The run records the
        agent and version (`agent_id`, `agent_version` on the run and on `workflow_started`).
        Same body, stream and errors as `POST /v1/chat`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/ChatRequest'
      responses:
        '200':
          $ref: '#/components/responses/EventStream'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `empty_message`, `message_too_long`, `invalid_session_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`agent_not_found`, `agent_deleted` (restore it with `POST /v1/agents/{id}/restore`), `session_not_found`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/flows:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [flows]
      operationId: listFlows
      summary: The tenant's flows, newest first. Any role.
      description: Deleted flows are left out. To page, pass the previous page's `next_cursor` as `before`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/Limit50'
        - $ref: '#/components/parameters/Before'
      responses:
        '200':
          description: A page of flows.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/Flow'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`, `invalid_flow_id` (`before`).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    post:
      tags: [flows]
      operationId: createFlow
      summary: Define a flow (version 1). Admin.
      description: |
        The whole graph is checked before anything is written (docs/flows.md): each problem is a
        400 naming the step — `duplicate_step`, `unknown_step_type`, `unknown_field` (in a step
        or its config), `unknown_step` (a `next`, branch or template naming no step),
        `flow_cycle`, `unreachable_step`, `unknown_tool`, `invalid_template`, `invalid_path`,
        `invalid_step`. Audited (`flow.create`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/FlowRequest'
            example:
              name: refund
              input_schema: {type: object, properties: {amount: {type: number}}, required: [amount]}
              steps:
                - {id: check, type: condition, config: {branches: [{path: $.input.amount, op: gt, value: 100, next: ask}], default: pay}}
                - {id: ask, type: approval, config: {message: 'Refund {{input.amount}}?'}, next: pay}
                - {id: pay, type: transform, config: {output: {refunded: '{{input.amount}}'}}}
      responses:
        '201':
          description: The new flow.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Flow'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `invalid_flow`, and the graph errors above, each naming the step.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`flow_name_taken`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/flows/executions:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [flows]
      operationId: listFlowExecutions
      summary: The tenant's executions, newest first (sub-flows' too). Any role.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/Limit50'
        - $ref: '#/components/parameters/Before'
        - name: flow
          in: query
          required: false
          description: Only this flow's executions (its id or name).
          schema:
            type: string
        - name: status
          in: query
          required: false
          schema:
            type: string
            enum: [running, waiting, completed, failed, cancelled]
      responses:
        '200':
          description: A page of executions (without their steps).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/FlowExecution'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`, `invalid_execution_id` (`before`).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`flow_not_found` (`flow`).'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/flows/executions/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/FlowExecutionID'
    get:
      tags: [flows]
      operationId: getFlowExecution
      summary: An execution with each step's input, output, attempts and timing. Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The execution and its steps, in the order they started.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/FlowExecution'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_execution_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`execution_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/flows/executions/{id}/cancel:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/FlowExecutionID'
    post:
      tags: [flows]
      operationId: cancelFlowExecution
      summary: Cancel an execution at its next step boundary. Admin, operator or service.
      description: |
        A step running now finishes (its result is kept), nothing runs after it; steps waiting
        (a delay, an approval) end, and so do the execution's sub-flows. Audited (`flow.cancel`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The execution, `cancelled`.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/FlowExecution'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_execution_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`execution_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`execution_finished`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/flows/executions/{id}/events:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/FlowExecutionID'
    get:
      tags: [flows]
      operationId: streamFlowExecutionEvents
      summary: The execution's events as Server-Sent Events, live until it ends; resumable. Any role.
      description: |
        Each event carries `id:` (its `seq`), `event:` (its type) and `data:` (JSON with `type`,
        `execution_id`, `seq`, `step_id`, `timestamp` and the type's fields). Types:
        `execution_started`, `step_started`, `step_completed`, `step_failed`, `step_retrying`,
        `step_waiting`, `approval_required`, `approval_resolved`, `execution_completed`,
        `execution_failed`, `execution_cancelled`; the stream ends after the last three. Resume
        with `Last-Event-ID` (or `?after=`): the events after that seq, from any replica. A server
        shutting down ends a live stream with `reconnect` (no `id:`).
      security:
        - bearerAuth: []
      parameters:
        - name: Last-Event-ID
          in: header
          required: false
          schema:
            type: integer
            minimum: 0
        - name: after
          in: query
          required: false
          description: Same as `Last-Event-ID`; ignored when that header is present.
          schema:
            type: integer
            minimum: 0
      responses:
        '200':
          description: The event stream.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            text/event-stream:
              schema:
                $ref: '#/components/schemas/FlowServerSentEvent'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_execution_id`, `invalid_last_event_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`execution_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/flows/executions/{id}/steps/{step}/decision:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/FlowExecutionID'
      - name: step
        in: path
        required: true
        description: The step's id in the flow.
        schema:
          type: string
    post:
      tags: [flows]
      operationId: decideFlowStep
      summary: Approve or reject a step waiting for a person. Admin or operator.
      description: |
        An `approval` step, or a `tool` step whose tool the workspace's policy holds for approval.
        Approving an approval step completes it (its output: `approved`, `by`, `comment`);
        approving a tool step runs the tool. Rejecting fails the step and the execution, unless
        the approval step names `on_reject`, which then comes next. Audited (`flow.approve`,
        `flow.reject`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [decision]
              properties:
                decision:
                  type: string
                  enum: [approve, reject]
                comment:
                  type: [string, 'null']
                  maxLength: 2000
      responses:
        '200':
          description: The step after the decision.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/FlowStepRun'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `unknown_field`, `invalid_decision`, `invalid_execution_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`execution_not_found`, `step_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`step_not_waiting`, `execution_finished`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/flows/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/FlowRef'
    get:
      tags: [flows]
      operationId: getFlow
      summary: One flow at its current version. Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The flow.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Flow'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`flow_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    patch:
      tags: [flows]
      operationId: updateFlow
      summary: Change a flow; writes a new version. Admin.
      description: |
        Top-level fields sent replace the current version's (send all of `steps` to change any
        step); the result is checked whole, like a new flow. Executions in progress keep the
        version they started with. Audited (`flow.update`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/FlowRequest'
            example:
              description: Refunds, with a sign-off above 100
      responses:
        '200':
          description: The flow at its new version.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Flow'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: The same as when creating a flow.
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`flow_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`flow_name_taken`, `flow_changed` (another change was written meanwhile).'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    delete:
      tags: [flows]
      operationId: deleteFlow
      summary: Delete a flow (hidden and no longer runnable; its executions stay readable). Admin.
      description: Audited (`flow.delete`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The deleted flow (`deleted_at` set).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Flow'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`flow_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/flows/{id}/versions:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/FlowRef'
    get:
      tags: [flows]
      operationId: listFlowVersions
      summary: Every version of a flow, newest first. Any role.
      description: To page, pass the previous page's `next_cursor` (a version number) as `before`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/Limit50'
        - $ref: '#/components/parameters/Before'
      responses:
        '200':
          description: A page of versions.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/FlowVersion'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`flow_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/flows/{id}/execute:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/FlowRef'
    post:
      tags: [flows]
      operationId: executeFlow
      summary: Start an execution of the flow's current version. Admin, operator or service.
      description: |
        The input is checked against the flow's `input_schema`; the execution is stored and its
        first step queued, then the answer comes back at once (202). Steps run on the job queue
        in any process's worker; follow them with `GET /v1/flows/executions/{id}/events`.
        Audited (`flow.execute`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              properties:
                input:
                  description: The execution's input (`{{input.…}}` in templates); `{}` when absent.
            example:
              input: {amount: 250}
      responses:
        '202':
          description: The execution, `running`.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/FlowExecution'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json`, `unknown_field`, `invalid_input` (listing what the schema refused).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`flow_not_found`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/conversations:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [conversations]
      operationId: listConversations
      summary: The tenant's conversations (sessions), newest first. Any role.
      description: Deleted ones are hidden unless `include_deleted=true`. To page, pass the previous page's `next_cursor` as `before`.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/Limit50'
        - $ref: '#/components/parameters/Before'
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: A page of conversations.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/Conversation'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`, `invalid_conversation_id` (`before`).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/conversations/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/ConversationID'
    get:
      tags: [conversations]
      operationId: getConversation
      summary: A conversation with its messages and tool executions (the first 500 of each). Any role.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: The conversation.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ConversationDetail'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_conversation_id`, `invalid_query`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`conversation_not_found`; `conversation_deleted` (with the date until which it can be restored) unless `include_deleted=true`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    delete:
      tags: [conversations]
      operationId: deleteConversation
      summary: Soft-delete a conversation (hidden; its session takes no more messages). Admin, operator or service.
      description: Audited (`conversation.delete`); `POST /v1/conversations/{id}/restore` undoes it.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The conversation (`deleted_at` set).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Conversation'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_conversation_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`conversation_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/conversations/{id}/restore:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/ConversationID'
    post:
      tags: [conversations]
      operationId: restoreConversation
      summary: Restore a deleted conversation. Admin, operator or service.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The conversation (`deleted_at` null).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Conversation'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_conversation_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`conversation_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/messages:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [messages]
      operationId: sendMessage
      summary: Queue an email or SMS for delivery. Admin, operator or service.
      description: |
        Validates the message, normalises `to`, and records the message and its send job in one
        transaction. The answer does not wait for delivery; follow the message with
        `GET /v1/messages/{id}`.

        Content: either `text` (and, for an email, `subject`), or `template` with `variables`;
        both or neither answers 400 `invalid_content`. A template (`GET /v1/templates`) is
        looked up in the tenant (404 `template_not_found`), must be for the message's channel
        (400 `template_channel_mismatch`) and is rendered as
        `POST /v1/templates/{name}/preview` renders it (400 `missing_variables`, naming every
        missing, null or blank required variable). Its rendered text becomes the message's
        `text`; an email template's rendered subject becomes `subject`, and a `subject` in the
        request is then ignored (an SMS template has no subject, so one sent with it is stored
        as usual). An email template's rendered html part becomes the message's `html`. The
        checks on `text` and `subject` below apply to the rendered result.
        The message keeps what was rendered; later template versions do not change it.

        Personalisation: a template with `personalize` is rewritten for the recipient by the
        configured language model (Anthropic or OpenAI-compatible; never the offline planner),
        once, here, with the template's `personalization_prompt` as guidance. The rewrite must
        arrive within `PARLEY_PERSONALIZE_TIMEOUT_MS` and pass checks, else the plain rendering
        is sent: not empty; an SMS at most 1,600 characters, an email text at most 20,000
        characters and three times the plain text plus 400; every required variable's string or
        number value that is in the plain text still in it; no number or link (URL, email
        address) that the plain text and subject lack. Only the text is rewritten: the subject
        stays the template's and, when the template has an html part, the html becomes the
        rewrite as escaped paragraphs (its links, all from the plain text, clickable).
        `content_source` tells which was sent and `personalization` why. A replay of the
        idempotency key answers the stored message without asking the model again, and
        retries deliver the stored text.

        Purpose and consent: `purpose` is `transactional` (the default) or `marketing`; anything
        else answers 400 `invalid_purpose`. With a template the template's `purpose` is used and
        the request's is ignored. Consent is kept per recipient and channel
        (`GET /v1/consent/{channel}/{recipient}`): nothing is sent to a recipient who is
        `opted_out` (409 `recipient_opted_out`) or `suppressed` (409 `recipient_suppressed`) on
        the message's channel, and a marketing message needs the recipient to have `opted_in` on
        it (409 `marketing_consent_missing`). Transactional messages need no opt-in. Consent is
        checked again when the message is sent: if it no longer allows the message (say the
        recipient replied STOP in between), the message is not sent and becomes `failed` at once,
        without retries, with the reason in `error`.

        Recipients (`to`, trimmed):

        - email: one `@`; before it 1 to 64 characters of letters, digits, dots and
          ``!#$%&'*+-/=?^_`{|}~`` (no leading, trailing or doubled dot, no quoted local part);
          after it a domain of at least two dot-separated labels of 1 to 63 letters, digits or
          hyphens (no leading or trailing hyphen, not ending in an all-digit label, no IP
          literal); at most 254 characters; ASCII only, so international domains are written in
          punycode (`xn--`). The domain is lowercased; the part before the `@` keeps its case.
        - sms: E.164. The number must start with `+` or `00` and the country code (no country
          is guessed); spaces, dashes, dots and parentheses are ignored, and a `(0)` after the
          country code is dropped. 8 to 15 digits, the first not 0; letters (extensions,
          lettered numbers) are rejected. Stored as `+` and the digits, e.g. `+442071234567`.

        Scheduling: without `send_at`, or with a `send_at` at most 60 s in the past, the message
        is due now; a later `send_at` schedules it; more than 60 s in the past answers 400
        `send_at_in_past`. Quiet hours: an email or SMS due from 21:00 until 08:00 in the
        tenant's `time_zone` (UTC if that is not an IANA name such as Europe/Paris) is deferred
        to 08:00, unless it comes from a template with `exempt_from_quiet_hours`. The
        response's `send_at` is when the message is due, after any deferral. The
        worker checks again before each attempt: a job that comes due inside quiet hours (a
        retry, say) goes back to `queued` until they end, and that attempt is not counted.

        Idempotency: the key is the `Idempotency-Key` header or, without it, `idempotency_key`
        in the body; with neither, the server generates one (a UUIDv7), returned as
        `idempotency_key`. Keys are per tenant. A request with a key already used and the same
        `channel`, `to`, `subject`, `text`, `template`, `variables`, `purpose` and `send_at`
        (`to` compared after normalisation, `purpose` as sent with `transactional` when omitted,
        the others as sent) queues nothing and answers 200 with the earlier message as it is
        now, even if consent has changed since; if any of them differs, 409
        `idempotency_key_reused`.

        Delivery: a worker in each `parley serve` process runs due jobs, at once for a message
        queued through the same process, otherwise within `POLL_INTERVAL_MS`. This version
        delivers to the outbox only (`provider` `outbox`): the rendered message is stored once
        and listed by `GET /v1/outbox`; nothing leaves the server. A failed attempt that may
        succeed later is retried up to `MAX_RETRIES` times with exponential backoff from
        `RETRY_DELAY_MINUTES`; meanwhile `status` stays `queued` and `error` shows the last
        failure. When the job gives up, `status` becomes `failed`. A permanent failure (the
        provider reports the recipient unreachable, e.g. an invalid number or a hard bounce)
        is not retried, and the recipient becomes `suppressed` on that channel with the
        provider's reason, unless they had already opted out or been suppressed. See
        docs/configuration.md.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IdempotencyKey'
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/SendMessageRequest'
            example:
              channel: email
              to: Ada.Lovelace@Example.COM
              subject: Your invoice
              text: Your January invoice is ready.
              idempotency_key: invoice-2026-01-ada
      responses:
        '200':
          description: |
            The idempotency key matched an earlier identical request; nothing new was queued.
            The earlier message as it is now, without `job`.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Message'
        '202':
          description: The message was queued. No `job` field.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Message'
              example:
                message_id: 019b2f72-3a4b-7c5d-8e6f-707172737475
                channel: email
                to: Ada.Lovelace@example.com
                subject: Your invoice
                text: Your January invoice is ready.
                status: queued
                idempotency_key: invoice-2026-01-ada
                send_at: '2026-01-31T09:00:00.000Z'
                provider: null
                error: null
                created_at: '2026-01-31T09:00:00.000Z'
                sent_at: null
                job_id: 019b2f72-3a4c-7d5e-8f60-717273747576
                purpose: transactional
        '400':
          $ref: '#/components/responses/BadRequest'
          description: |
            `invalid_json` (also a `send_at` that is not ISO 8601), `invalid_channel`,
            `invalid_purpose`, `invalid_content` (both `text` and `template`, or neither),
            `empty_message`, `invalid_subject`, `invalid_email`, `message_too_long`,
            `invalid_phone`, `invalid_idempotency_key`, `send_at_in_past`, `send_at_too_far`
            (more than 366 days ahead), `invalid_date`; with a template also
            `template_channel_mismatch`, `missing_variables`, `template_syntax_error` and
            `invalid_template` (e.g. the text or subject rendered empty).
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer keys may not send messages.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`template_not_found`: no template of that name in this tenant.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: |
            `idempotency_key_reused`: the key was used for a different message.
            `recipient_opted_out`: the recipient opted out of this channel.
            `recipient_suppressed`: this channel cannot reach the recipient (the message gives
            the reason). `marketing_consent_missing`: a marketing message to a recipient who has
            not opted in on this channel.
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/messages/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: id
        in: path
        required: true
        description: The message's id (`message_id`).
        schema:
          type: string
    get:
      tags: [messages]
      operationId: getMessage
      summary: One message with the state of its send job. Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The message, with `job`.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Message'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`message_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/outbox:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [messages]
      operationId: listOutbox
      summary: The messages delivered to the outbox, newest first. Any role.
      description: |
        One entry per delivered message. To page, pass the previous page's `next_cursor` as
        `before`; `next_cursor` is null on the last page.
      security:
        - bearerAuth: []
      parameters:
        - name: limit
          in: query
          description: Entries per page. Outside 1 to 500 answers 400 `invalid_query`.
          schema:
            type: integer
            minimum: 1
            maximum: 500
            default: 50
        - $ref: '#/components/parameters/Before'
      responses:
        '200':
          description: One page of entries.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/OutboxPage'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/jobs:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [messages]
      operationId: listJobs
      summary: The tenant's communication jobs, newest first. Any role.
      description: |
        Each accepted message is one job (`send_email` or `send_sms`). To page, pass the previous
        page's `next_cursor` as `before`; `next_cursor` is null on the last page.
      security:
        - bearerAuth: []
      parameters:
        - name: state
          in: query
          description: Only jobs in this state; anything else answers 400 `invalid_query`.
          schema:
            $ref: '#/components/schemas/JobState'
        - name: limit
          in: query
          description: Jobs per page. Outside 1 to 500 answers 400 `invalid_query`.
          schema:
            type: integer
            minimum: 1
            maximum: 500
            default: 50
        - $ref: '#/components/parameters/Before'
      responses:
        '200':
          description: One page of jobs.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/JobPage'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/jobs/{id}/retry:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: id
        in: path
        required: true
        description: The job id.
        schema:
          type: string
    post:
      tags: [messages]
      operationId: retryJob
      summary: Run a dead, cancelled or waiting job again now. Admin or operator.
      description: |
        The job is queued at once with a fresh set of attempts; a failed or cancelled message of
        the job is queued again with it. A message that was already delivered is not sent again.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The job, queued.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/JobView'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`job_not_found`: no such job in this tenant.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`job_state_conflict`: the job is running or has succeeded.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/jobs/{id}/cancel:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: id
        in: path
        required: true
        description: The job id.
        schema:
          type: string
    post:
      tags: [messages]
      operationId: cancelJob
      summary: Cancel a job that has not run yet (queued or waiting to retry). Admin or operator.
      description: The job and its queued message become `cancelled`.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The job, cancelled.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/JobView'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`job_not_found`: no such job in this tenant.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`job_state_conflict`: the job is running or has already ended.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /unsubscribe/{token}:
    parameters:
      - name: token
        in: path
        required: true
        description: The signed token from a marketing email's `List-Unsubscribe` link.
        schema:
          type: string
    get:
      tags: [messages]
      operationId: showUnsubscribe
      summary: A confirmation page for an unsubscribe link. No authentication; changes nothing.
      description: Mail scanners open links, so looking at the page never unsubscribes anyone.
      responses:
        '200':
          description: An HTML page with an Unsubscribe button.
          content:
            text/html: {}
        '400':
          $ref: '#/components/responses/BadRequest'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`invalid_unsubscribe_link`: edited, truncated or not from this installation.'
    post:
      tags: [messages]
      operationId: unsubscribe
      summary: Opt the link's recipient out of the tenant's marketing email. No authentication.
      description: |
        The page's button and mail clients' one-click unsubscribe (RFC 8058, body
        `List-Unsubscribe=One-Click`) both post here. The opt-out is recorded once, with source
        `list_unsubscribe`, however often the link is used; transactional email is unaffected.
      responses:
        '200':
          description: An HTML confirmation.
          content:
            text/html: {}
        '400':
          $ref: '#/components/responses/BadRequest'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`invalid_unsubscribe_link`.'
  /webhooks/{tenant_slug}/twilio/status:
    parameters:
      - $ref: '#/components/parameters/TenantSlug'
    post:
      tags: [webhooks]
      operationId: twilioStatusCallback
      summary: Twilio's SMS status callback. No API key; signed by Twilio.
      description: |
        Point a message's `StatusCallback` (or `PARLEY_TWILIO_STATUS_CALLBACK`) here. The
        `X-Twilio-Signature` is checked with the tenant's Twilio auth token over the public URL
        (`PARLEY_PUBLIC_URL`, else `http://HOST:PORT`, then this path and query) and the sorted
        form fields. The message sent through Twilio with this `MessageSid` gets
        `delivery_status` `queued`, `sending`, `sent`, `delivered`, `undelivered` or `failed`
        (`accepted`/`scheduled` read as `queued`, `read` as `delivered`; other statuses are
        ignored). A status never goes back: `delivered` is not overwritten by a late `sent`,
        and a repeated callback changes nothing.

        `undelivered` or `failed` with an error code that says the number can never be reached
        (21211 invalid number, 21614 not a mobile number, 21635 landline, 30005 unknown handset,
        30006 landline or unreachable carrier) suppresses the number on `sms`; 21610 (the
        recipient texted STOP to the carrier) opts it out. Either is recorded with source
        `webhook:twilio`, once, and not over an existing opt-out or suppression. Error 30003
        (handset unreachable: off or out of coverage) and content errors such as 30007 change
        no consent. An unknown `MessageSid`, or another tenant's, is accepted and changes
        nothing, since Twilio retries failed callbacks.
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema:
              $ref: '#/components/schemas/TwilioStatusCallback'
      responses:
        '200':
          $ref: '#/components/responses/EmptyTwiML'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_webhook`: the form is malformed (a field twice, bad encoding) or lacks `MessageSid` or `MessageStatus`.'
        '401':
          $ref: '#/components/responses/InvalidSignature'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`tenant_not_found` (no tenant with this slug), `webhook_not_configured` (no Twilio auth token).'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
          description: '`unsupported_media_type`: the body must be `application/x-www-form-urlencoded`.'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /webhooks/{tenant_slug}/twilio/inbound:
    parameters:
      - $ref: '#/components/parameters/TenantSlug'
    post:
      tags: [webhooks]
      operationId: twilioInboundSMS
      summary: Twilio's incoming-message webhook. No API key; signed by Twilio.
      description: |
        Set as the number's (or Messaging Service's) incoming-message URL. Verified as the
        status callback is. The `Body` is matched against the keywords of
        `POST /v1/inbound/sms` (STOP, START, HELP and the rest); an opt-out or opt-in is
        recorded for the `From` number with source `webhook:twilio`. A message whose
        `MessageSid` was already applied (a replay or a retry) records nothing more. The answer
        is TwiML: `<Response/>` (Twilio itself confirms STOP and START on standard numbers), or
        for HELP a `<Message>` naming the tenant and the keywords.
      requestBody:
        required: true
        content:
          application/x-www-form-urlencoded:
            schema:
              $ref: '#/components/schemas/TwilioInboundSMS'
      responses:
        '200':
          description: TwiML, `<Response/>` or a HELP reply.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            text/xml:
              example: '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Acme: reply STOP to unsubscribe, START to subscribe again.</Message></Response>'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_webhook` (malformed form, no `From` or `Body`), `invalid_phone` (`From` is not a phone number).'
        '401':
          $ref: '#/components/responses/InvalidSignature'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`tenant_not_found`, `webhook_not_configured`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /webhooks/{tenant_slug}/sendgrid/events:
    parameters:
      - $ref: '#/components/parameters/TenantSlug'
    post:
      tags: [webhooks]
      operationId: sendGridEvents
      summary: SendGrid's Signed Event Webhook. No API key; signed by SendGrid.
      description: |
        `X-Twilio-Email-Event-Webhook-Signature` (base64 DER ECDSA P-256 with SHA-256) must
        verify over `X-Twilio-Email-Event-Webhook-Timestamp` followed by the raw body, with the
        tenant's verification key (`PARLEY_SENDGRID_WEBHOOK_PUBLIC_KEY`), and the timestamp must
        be within 5 minutes of the server's time. Each event's `sg_message_id`, up to its first
        `.`, is the `X-Message-Id` the message was sent with. Applied, in one transaction:
        `processed` → `sent`, `deferred` → `delayed`, `delivered` → `delivered`; `bounce` →
        `bounced` and the address suppressed on `email` (a `bounce` of `type` `blocked` →
        `undelivered`, suppressing no one); `dropped` → `dropped`; `spamreport` → `complained`
        and the address opted out; `unsubscribe` and `group_unsubscribe` → opted out. Consent
        changes have source `webhook:sendgrid`. Other events are ignored; an event whose
        `sg_event_id` was already applied is skipped; statuses only move forward.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: array
              items:
                $ref: '#/components/schemas/SendGridEvent'
      responses:
        '200':
          $ref: '#/components/responses/WebhookOutcome'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_webhook`: not a JSON array of objects with an `event`.'
        '401':
          $ref: '#/components/responses/InvalidSignature'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`tenant_not_found`, `webhook_not_configured` (no verification key).'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /webhooks/{tenant_slug}/resend/events:
    parameters:
      - $ref: '#/components/parameters/TenantSlug'
    post:
      tags: [webhooks]
      operationId: resendEvents
      summary: Resend's webhook, signed with Svix. No API key.
      description: |
        `svix-signature` holds one or more space-separated `v1,<base64>` signatures; one must be
        the HMAC-SHA256 of `svix-id.svix-timestamp.body` under the tenant's signing secret
        (`PARLEY_RESEND_WEBHOOK_SECRET`, `whsec_...`), and `svix-timestamp` must be within 5
        minutes of the server's time. `data.email_id` is the id Resend gave the message.
        Applied: `email.sent` → `sent`, `email.delivery_delayed` → `delayed`,
        `email.delivered` → `delivered`, `email.bounced` → `bounced` and the address suppressed
        on `email` (unless Resend types the bounce `Transient`), `email.complained` →
        `complained` and the address opted out, `email.failed` → `failed`. Consent changes have
        source `webhook:resend`. Other events are ignored; a repeated `svix-id` is skipped.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/ResendEvent'
      responses:
        '200':
          $ref: '#/components/responses/WebhookOutcome'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_webhook`: not a JSON object with a `type`.'
        '401':
          $ref: '#/components/responses/InvalidSignature'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`tenant_not_found`, `webhook_not_configured` (no signing secret).'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /c/{slug}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/ChatSlug'
    get:
      tags: [customer-chat]
      operationId: getChatPage
      summary: The tenant's public chat page. No authentication.
      description: |
        HTML with the tenant's title, greeting and public widget key; scripts and styles from this
        server only (`Content-Security-Policy`), framed only by this server and the tenant's
        `allowed_origins` (`frame-ancestors`). 404 `chat_not_found` when there is no such tenant or
        its page is switched off.
      responses:
        '200':
          description: The page.
          content:
            text/html: {}
        '400':
          $ref: '#/components/responses/BadRequest'
        '404':
          $ref: '#/components/responses/NotFound'
  /c/{slug}/{file}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/ChatSlug'
      - name: file
        in: path
        required: true
        description: '`chat.js`, `chat.css` (the page''s files) or `widget.js` (the embeddable script).'
        schema:
          type: string
    get:
      tags: [customer-chat]
      operationId: getChatFile
      summary: A file of the chat page, or the embeddable widget script. No authentication.
      description: |
        Served like `/console/{name}` (content type, `nosniff`, `ETag`, 304 on a matching
        `If-None-Match`), with `Cross-Origin-Resource-Policy: cross-origin`. A business embeds the
        widget with `<script src="https://parley.example/c/acme/widget.js" data-key="pk_..." async>`:
        it adds a button that opens the chat page in a panel.
      responses:
        '200':
          description: The file.
          content:
            text/javascript:
              schema:
                type: string
            text/css:
              schema:
                type: string
        '304':
          description: The browser's copy is current.
        '400':
          $ref: '#/components/responses/BadRequest'
        '404':
          $ref: '#/components/responses/NotFound'
  /c/{slug}/api/sessions:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/ChatSlug'
    options:
      tags: [customer-chat]
      operationId: preflightChatSessions
      summary: CORS preflight; 204 for the tenant's allowed origins, 403 `origin_not_allowed` for others.
      responses:
        '204':
          description: Allowed.
        '400':
          $ref: '#/components/responses/BadRequest'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    post:
      tags: [customer-chat]
      operationId: startChatConversation
      summary: Start a visitor's conversation. Needs the widget's public key; no API key.
      description: |
        Send the key in `X-Parley-Widget-Key`. A browser's `Origin` must be this server's own or
        in the tenant's `allowed_origins`. The answer's `visitor_token` (shown once; only its
        SHA-256 is stored) is the visitor's credential for the other `/api` routes, as
        `Authorization: Bearer <token>`, and reaches this one conversation only. Limited per
        client address (`PARLEY_CHAT_SESSIONS_PER_HOUR`).
      parameters:
        - name: X-Parley-Widget-Key
          in: header
          required: true
          schema:
            type: string
      requestBody:
        required: false
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
      responses:
        '201':
          description: The conversation and its visitor token.
          content:
            application/json:
              schema:
                type: object
                required: [session_id, visitor_token, token_type, expires_at]
                properties:
                  session_id: { type: string }
                  visitor_token: { type: string, description: '`pv_` and 43 random characters.' }
                  token_type: { type: string, enum: [Bearer] }
                  expires_at: { type: string, format: date-time }
                  title: { type: [string, 'null'] }
                  greeting: { type: [string, 'null'] }
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
          description: '`widget_key_required` or `invalid_widget_key` (wrong or rotated key).'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`origin_not_allowed`.'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`chat_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /c/{slug}/api/messages:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/ChatSlug'
    options:
      tags: [customer-chat]
      operationId: preflightChatMessages
      summary: CORS preflight (see `/c/{slug}/api/sessions`).
      responses:
        '204':
          description: Allowed.
        '400':
          $ref: '#/components/responses/BadRequest'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    get:
      tags: [customer-chat]
      operationId: listChatMessages
      summary: The visitor's conversation so far. Visitor token.
      responses:
        '200':
          description: The messages, oldest first.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data:
                    type: array
                    items:
                      type: object
                      properties:
                        message_id: { type: string }
                        workflow_id: { type: [string, 'null'] }
                        role: { type: string, enum: [user, assistant] }
                        content: { type: string }
                        created_at: { type: string, format: date-time }
                  next_cursor: { type: 'null' }
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
          description: '`visitor_token_required` or `invalid_visitor_token` (unknown, expired, or another tenant''s).'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    post:
      tags: [customer-chat]
      operationId: sendChatMessage
      summary: Send the visitor's message to the agent. Visitor token.
      description: |
        Starts a run in the visitor's session as role `customer` (offered only tools marked safe
        for customers); files attached since the last message go with it as Markdown (at most
        `PARLEY_CHAT_ATTACHMENT_TEXT_CHARS` characters). Follow the answer on
        `GET /c/{slug}/api/stream?workflow_id=...`. Limited per visitor
        (`PARLEY_CHAT_MESSAGES_PER_MINUTE`) and per client address
        (`PARLEY_CHAT_ADDRESS_MESSAGES_PER_MINUTE`).
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [text]
              properties:
                text: { type: string, minLength: 1 }
      responses:
        '202':
          description: The run started.
          content:
            application/json:
              schema:
                type: object
                properties:
                  workflow_id: { type: string }
                  status: { type: string }
                  session_id: { type: string }
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`empty_message`, `message_too_long`, `invalid_text`, `unknown_field`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /c/{slug}/api/stream:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/ChatSlug'
    options:
      tags: [customer-chat]
      operationId: preflightChatStream
      summary: CORS preflight (see `/c/{slug}/api/sessions`).
      responses:
        '204':
          description: Allowed.
        '400':
          $ref: '#/components/responses/BadRequest'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    get:
      tags: [customer-chat]
      operationId: streamChat
      summary: Server-sent events of one of the visitor's runs (default the latest). Visitor token.
      description: |
        Resumable: send the last `id:` received as `Last-Event-ID`. A customer sees the answer
        (`text_delta`), its sources (`citation`), `handoff`, `human_message`, `handback`,
        `escalation`, the run's start and end, and `tool_start` with the tool's name only;
        never tool inputs or outputs or the model's reasoning. A run of another conversation
        answers 404 `workflow_not_found`, like a missing one.
      parameters:
        - name: workflow_id
          in: query
          required: false
          schema:
            type: string
        - name: after
          in: query
          required: false
          schema:
            type: integer
            minimum: 0
      responses:
        '200':
          description: The event stream (docs/events.md).
          content:
            text/event-stream:
              schema:
                type: string
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
  /c/{slug}/api/attachments:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/ChatSlug'
    options:
      tags: [customer-chat]
      operationId: preflightChatAttachments
      summary: CORS preflight (see `/c/{slug}/api/sessions`).
      responses:
        '204':
          description: Allowed.
        '400':
          $ref: '#/components/responses/BadRequest'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
    post:
      tags: [customer-chat]
      operationId: attachChatFile
      summary: Upload a file for the agent to read with the visitor's next message. Visitor token.
      description: |
        The body is the file's bytes, its type in `Content-Type` and its name, percent-encoded,
        in `X-Filename`. It is converted to Markdown (docs/support.md) and kept for the next
        message. At most `PARLEY_CHAT_ATTACHMENT_MAX_BYTES`.
      parameters:
        - name: X-Filename
          in: header
          required: true
          schema:
            type: string
      requestBody:
        required: true
        content:
          application/octet-stream:
            schema:
              type: string
              format: binary
      responses:
        '201':
          description: The attachment.
          content:
            application/json:
              schema:
                type: object
                properties:
                  attachment_id: { type: string }
                  filename: { type: string }
                  content_type: { type: string }
                  size_bytes: { type: integer }
                  characters: { type: integer, description: Characters of Markdown kept. }
                  truncated: { type: boolean }
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_filename`, `empty_attachment`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
          description: '`attachment_too_large` (over `PARLEY_CHAT_ATTACHMENT_MAX_BYTES`; a declared length over both it and `PARLEY_MAX_BODY_BYTES` is refused before the body is read, as `payload_too_large`) or `document_too_large`.'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
          description: '`unsupported_format`.'
        '422':
          description: '`unreadable_document`.'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /v1/channels:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [messages]
      operationId: listChannels
      summary: Which provider each channel (email, SMS) of the tenant uses. Any role.
      description: |
        A channel the tenant has not configured uses the installation's settings
        (`PARLEY_EMAIL_PROVIDER`, `PARLEY_SMS_PROVIDER`, ...; `source` is `installation`). Secrets
        are never returned: `secrets` shows which are set, by their last four characters.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: Both channels.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items: {$ref: '#/components/schemas/ChannelView'}
                  next_cursor: {type: 'null'}
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/channels/{channel}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: channel
        in: path
        required: true
        description: '`email` or `sms`; anything else answers 404 `unknown_channel`.'
        schema:
          type: string
          enum: [email, sms]
    put:
      tags: [messages]
      operationId: setChannel
      summary: Send this channel through the tenant's own provider account. Admin only.
      description: |
        The settings, credentials included, are stored encrypted with a key derived from the
        installation key (AES-GCM, bound to the tenant and channel) and used by every worker from
        the next message on. The change is recorded in the audit log (without secrets).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [provider]
              properties:
                provider:
                  type: string
                  description: 'Email: `outbox`, `smtp`, `sendgrid`, `resend`. SMS: `outbox`, `twilio`.'
                from: {type: string, description: "Email: the sender mailbox (required except for outbox). SMS: Twilio's From number."}
                smtp_url: {type: string, description: 'smtp: `smtp://USER:PASSWORD@HOST:PORT`, `smtps://...` or `smtp+insecure://HOST:PORT`.'}
                api_key: {type: string, description: sendgrid and resend.}
                account_sid: {type: string, description: twilio.}
                auth_token: {type: string, description: twilio.}
                messaging_service_sid: {type: string, description: 'twilio: instead of `from`.'}
                base_url: {type: string, description: "The provider's API base URL (proxies, tests). Must resolve to public addresses unless PARLEY_OUTBOUND_ALLOW lists it; redirects from it are not followed."}
                status_callback: {type: string, description: "twilio: where Twilio posts delivery statuses."}
      responses:
        '200':
          description: The channel as now configured (secrets redacted).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ChannelView'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: |
            `invalid_json`, `invalid_channel_settings` naming what is wrong or missing, or
            `outbound_address_refused`: `base_url` or the `smtp_url` host is (or resolves to) a
            loopback, private, link-local, metadata or other non-public address that
            `PARLEY_OUTBOUND_ALLOW` does not list.
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`unknown_channel`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    delete:
      tags: [messages]
      operationId: removeChannel
      summary: Go back to the installation's settings for this channel. Admin only.
      security:
        - bearerAuth: []
      responses:
        '204':
          description: Removed; the tenant's credentials are deleted.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`unknown_channel`, or `channel_not_configured` (it already uses the installation settings).'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/schedules:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [messages]
      operationId: listSchedules
      summary: The tenant's recurring tasks (the installed packs' triggers). Any role.
      description: |
        Every tenant gets each installed pack's tasks on their default schedule; the scheduler in
        `parley serve` and `parley worker` fires each occurrence once across all replicas. After
        downtime a task that missed occurrences runs once, then continues on schedule.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: All of the tenant's scheduled tasks, by name (one page).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items: {$ref: '#/components/schemas/ScheduledTask'}
                  next_cursor: {type: 'null'}
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/schedules/{name}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: name
        in: path
        required: true
        description: The task's name, e.g. `<pack>.<trigger>`.
        schema:
          type: string
    put:
      tags: [messages]
      operationId: updateSchedule
      summary: Change when a task runs, or pause and resume it. Admin or operator.
      description: |
        A new schedule, or resuming a paused task, counts from now: occurrences missed while it
        was paused are not caught up. The change survives restarts.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              minProperties: 1
              properties:
                schedule: {$ref: '#/components/schemas/Schedule'}
                enabled: {type: boolean}
      responses:
        '200':
          description: The task as changed.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ScheduledTask'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_json` (a malformed schedule), `invalid_schedule`, or `invalid_request` (nothing to change).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`task_not_found`: no task of that name in this tenant.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/templates:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [messages]
      operationId: listTemplates
      summary: The message templates the tenant can use, sorted by name. Any role.
      description: |
        The global default templates merged with the tenant's own: where the tenant has saved a
        template of a default's name, its newest version replaces the default (`overridden`
        true); templates the tenant saved under new names are listed too. Not paginated;
        `next_cursor` is always null. With `include_deleted=true`, the tenant's deleted versions
        (by name, with `deleted_at`) are listed too.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/IncludeDeleted'
      responses:
        '200':
          description: The templates.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/TemplateList'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/templates/{name}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/TemplateName'
    get:
      tags: [messages]
      operationId: getTemplate
      summary: One template, as `POST /v1/messages` would use it. Any role.
      description: |
        The tenant's newest version of the template if it has one, otherwise the global default.
        A deleted template of the tenant's own with no default of its name answers 404
        `template_deleted` naming the date until which it can be restored.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The template.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Template'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`template_not_found`: neither a default nor a tenant template has this name.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    put:
      tags: [messages]
      operationId: saveTemplate
      summary: Save a new version of the tenant's template. Admin or operator.
      description: |
        Creates the tenant's template `name`, or overrides the global default of that name for
        this tenant, or replaces the tenant's earlier version. Every PUT stores a new version;
        earlier versions are kept but no longer used. `version` is one more than the larger of
        the tenant's newest version of `name` and the default's version (so the first override
        of a default, version 1, is version 2; a new name starts at 1). The saved template is
        used at once by `POST /v1/messages`; messages already queued keep the text they were
        rendered with.

        The template is checked before it is stored; the rules are on `TemplateDefinition`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/TemplateDefinition'
            example:
              channel: sms
              purpose: transactional
              text: '{{first_name}}: see you {{when}} at Smith & Sons'
              required_variables: [first_name, when]
              exempt_from_quiet_hours: true
      responses:
        '200':
          description: The saved template, with its new `version` and `overridden` true.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Template'
              example:
                name: appointment_reminder
                channel: sms
                purpose: transactional
                subject: null
                text: '{{first_name}}: see you {{when}} at Smith & Sons'
                html: null
                required_variables: [first_name, when]
                exempt_from_quiet_hours: true
                version: 2
                overridden: true
                variables: [first_name, when]
        '400':
          $ref: '#/components/responses/BadRequest'
          description: |
            `invalid_json` (also a missing `channel`, `purpose` or `text`),
            `invalid_template_name` (`name` is not a slug), `template_syntax_error` (a part does
            not compile; the message names the part, line and column), `invalid_template` (any
            other rule, e.g. an unknown `channel` or `purpose`, an email without a subject, an
            SMS with a subject or html part, a partial, a marketing template exempt from quiet
            hours).
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer and service keys may not change templates.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    delete:
      tags: [messages]
      operationId: deleteTemplate
      summary: Soft-delete the tenant's own versions of a template. Admin or operator.
      description: The global default of that name (if any) is used again. Restorable with `POST /v1/templates/{name}/restore` within `PARLEY_RETENTION_DAYS`. Audited (`template.delete`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The version that was in use, with `deleted_at`.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Template'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`template_not_found`: no version of the tenants own (a default alone cannot be deleted).'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/templates/{name}/restore:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/TemplateName'
    post:
      tags: [messages]
      operationId: restoreTemplate
      summary: Restore the versions the last delete of a template removed. Admin or operator.
      description: Audited (`template.restore`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The template now in use.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Template'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`template_not_found` (nothing deleted, or purged), `restore_window_passed`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/templates/{name}/versions:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/TemplateName'
    get:
      tags: [messages]
      operationId: listTemplateVersions
      summary: Every saved version of a template, newest first, then the global default (if any). Any role.
      description: |
        Each entry is a `Template` plus `created_by` and `created_at` (null for the built-in
        default) and `current` (true for the one `POST /v1/messages` uses: the first).
        Not paginated; `next_cursor` is always null.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The versions.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      allOf:
                        - $ref: '#/components/schemas/Template'
                        - type: object
                          required: [created_by, created_at, current]
                          properties:
                            created_by:
                              type: [string, 'null']
                            created_at:
                              type: [string, 'null']
                              format: date-time
                            current:
                              type: boolean
                  next_cursor:
                    type: 'null'
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`template_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/templates/{name}/preview:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/TemplateName'
    post:
      tags: [messages]
      operationId: previewTemplate
      summary: Render a template, or a draft of one, with variables. Any role.
      description: |
        Renders as `POST /v1/messages` would, and sends nothing. Without `template` the body
        renders the template `name` as `GET /v1/templates/{name}` returns it; with `template`
        it renders that draft under `name` instead, without saving it, so a change can be tried
        before the PUT (the draft is checked by the same rules, and need not be for an
        existing name).

        Rendering: `subject` and `text` are rendered without HTML escaping; `html` escapes
        each `{{variable}}` (`{{{variable}}}` and `{{&variable}}` do not). Line breaks and other
        control characters in the rendered subject become single spaces. Every required
        variable that is missing, null or blank (empty or only whitespace) is reported at
        once, in one 400 `missing_variables`. The value rules are on `TemplateVariables`.

        With `try_personalization: true`, the rendering is also rewritten by the model and
        checked as for a message (`personalized`; one model call, made even when the template
        does not have `personalize`); this needs a role that may send messages (403 otherwise).
        Without a configured model, `personalized` is the plain rendering with
        `personalization: fallback_unavailable`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/PreviewTemplateRequest'
            example:
              variables:
                first_name: Ada
                business_name: Smith Dental
                appointment_date: Tuesday 3 February
                appointment_time: '9:00'
      responses:
        '200':
          description: The rendered message.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/RenderedTemplate'
              example:
                subject: null
                text: 'Hi Ada, Smith Dental here. Reminder: your appointment is Tuesday 3 February at 9:00. Reply C to confirm.'
                html: null
                personalize: false
                personalization_prompt: null
                personalized: null
        '400':
          $ref: '#/components/responses/BadRequest'
          description: |
            `invalid_json` (also an empty body; send `{}` for no variables),
            `missing_variables` (the message lists every one), `template_syntax_error`,
            `invalid_template` (a rule of `TemplateDefinition` broken, or the text or subject
            rendered empty), `invalid_template_name` (a draft whose `name` is not a slug).
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`template_not_found`: no template has this name and the body has no draft `template`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/consent:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [messages]
      operationId: listConsent
      summary: Recipients with a recorded consent status — e.g. the suppression list. Any role.
      description: |
        Ordered by channel, then recipient. `?status=suppressed` lists addresses and numbers that
        bounced or were refused for good; `?status=opted_out` those who unsubscribed (STOP, an
        unsubscribe link, an operator). Change one with `PUT /v1/consent/{channel}/{recipient}`.
      security:
        - bearerAuth: []
      parameters:
        - name: status
          in: query
          schema: {type: string, enum: [opted_in, opted_out, suppressed]}
        - name: channel
          in: query
          schema: {type: string, enum: [email, sms]}
        - name: limit
          in: query
          schema: {type: integer, minimum: 1, maximum: 500, default: 100}
        - $ref: '#/components/parameters/After'
      responses:
        '200':
          description: One page.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      type: object
                      required: [channel, recipient, status, source, reason, updated_at]
                      properties:
                        channel: {type: string, enum: [email, sms]}
                        recipient: {type: string}
                        status: {type: string, enum: [opted_in, opted_out, suppressed]}
                        source: {type: string}
                        reason: {type: [string, 'null']}
                        updated_at: {type: string, format: date-time}
                  next_cursor: {type: [string, 'null']}
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_query`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/consent/{channel}/{recipient}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - name: channel
        in: path
        required: true
        description: Exactly `email` or `sms`; any other value answers 400 `invalid_channel`.
        schema:
          type: string
          enum: [email, sms]
      - name: recipient
        in: path
        required: true
        description: |
          An email address or a phone number with its country code, checked and normalised as
          `to` is by `POST /v1/messages` (e.g. `0014155550100` and `+14155550100` are the same
          recipient; an email's domain is lowercased). Invalid: 400 `invalid_email` or
          `invalid_phone`.
        schema:
          type: string
        example: '+14155550100'
    get:
      tags: [messages]
      operationId: getConsent
      summary: A recipient's consent on a channel, with every change. Any role.
      description: |
        `current` is the recipient's consent now, or null when nothing has been recorded (then
        transactional messages may be sent and marketing may not). `history` lists every
        change, oldest first, each with its source and time (`updated_at` is when that change
        was made); it is empty when `current` is null. Not paginated.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The consent and its history.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/RecipientConsent'
              example:
                current:
                  channel: sms
                  recipient: '+14155550100'
                  status: opted_out
                  source: inbound_sms
                  reason: replied STOP
                  updated_at: '2026-01-31T09:05:00.000Z'
                history:
                  - channel: sms
                    recipient: '+14155550100'
                    status: opted_in
                    source: api_key:019b2f6e-8a1c-7d3e-9f40-5b6c7d8e9f01
                    reason: signed form 2026-01-15
                    updated_at: '2026-01-15T10:00:00.000Z'
                  - channel: sms
                    recipient: '+14155550100'
                    status: opted_out
                    source: inbound_sms
                    reason: replied STOP
                    updated_at: '2026-01-31T09:05:00.000Z'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_channel`, `invalid_email`, `invalid_phone`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    put:
      tags: [messages]
      operationId: setConsent
      summary: Record a recipient's consent on a channel. Admin or operator.
      description: |
        Replaces the recipient's current consent on the channel and adds the change to its
        history, with the caller as `source` (`api_key:<key id>`) and `reason` as given (null
        when omitted). Every PUT is recorded, even one that does not change `status`. Use it to
        record an opt-in collected elsewhere (a signed form, a checkbox), an opt-out received
        another way, or a suppression; there is no status for "nothing recorded", so lifting
        a suppression means recording `opted_in`, which also allows marketing.
        It takes effect at once, also for messages already queued (their consent is checked
        again when they are sent).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/SetConsentRequest'
            example:
              status: opted_in
              reason: signed form 2026-01-15
      responses:
        '200':
          description: The recipient's consent as now recorded.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Consent'
              example:
                channel: sms
                recipient: '+14155550100'
                status: opted_in
                source: api_key:019b2f6e-8a1c-7d3e-9f40-5b6c7d8e9f01
                reason: signed form 2026-01-15
                updated_at: '2026-01-15T10:00:00.000Z'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: |
            `invalid_json` (also a missing `status`), `invalid_status` (not `opted_in`,
            `opted_out` or `suppressed`), `invalid_channel`, `invalid_email`, `invalid_phone`.
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer and service keys may not change consent.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/inbound/sms:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [messages]
      operationId: receiveInboundSMS
      summary: Apply an inbound text's opt-out or opt-in keyword. Admin, operator or service.
      description: |
        For a provider integration to forward the texts recipients send back, so their STOP
        and START replies are honoured (in the key's tenant). Twilio can post to the signed
        webhook `POST /webhooks/{tenant_slug}/twilio/inbound` instead, which needs no API key.

        The whole `body` is matched, ignoring case, whitespace and punctuation at either end,
        with runs of spaces inside counted as one (`  stop! ` and `opt   out` match; `Please
        stop` and `OPT-OUT` do not):

        - `STOP`, `STOPALL`, `UNSUBSCRIBE`, `CANCEL`, `END`, `QUIT`, `REVOKE`, `OPTOUT`,
          `OPT OUT`: the sender becomes `opted_out` on `sms` (`action` `opted_out`). Nothing more
          is sent to them by SMS, including messages already queued.
        - `START`, `UNSTOP`: the sender becomes `opted_in` on `sms` (`action` `opted_in`),
          replacing an opt-out or a suppression; marketing by SMS may then be sent to them.
        - `HELP`, `INFO`: `action` `help`; nothing is recorded. The integration should answer
          with the sender's help text; Parley sends no reply.
        - anything else: `action` `none`; nothing is recorded and the text is not stored.

        A keyword is recorded each time it arrives, as a change in the sender's history with
        `source` `inbound_sms` and `reason` `replied <KEYWORD>` (e.g. `replied STOP`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/InboundSMSRequest'
            example:
              from: '+1 415 555 0100'
              body: Stop
      responses:
        '200':
          description: What the text did.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/InboundSMSResult'
              example:
                action: opted_out
        '400':
          $ref: '#/components/responses/BadRequest'
          description: |
            `invalid_json` (also a missing `from` or `body`), `invalid_phone` (`from` is not a
            phone number with its country code).
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
          description: '`forbidden`: viewer keys may not forward inbound texts.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/convert:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [documents]
      operationId: convertDocument
      summary: Convert a document to Markdown. Any role; stores nothing.
      description: |
        The body is the document's raw bytes, or a `multipart/form-data` form with one `file`
        part (a browser's or `curl -F file=@report.pdf` upload; no other parts, no `?filename=`;
        a malformed form answers 400 `missing_boundary`, `truncated_multipart`,
        `invalid_multipart`, `duplicate_part`, `unknown_part` or `missing_file`). The format comes
        from the `filename` query parameter's (or the file part's filename's) extension, else the
        `Content-Type` (the part's own), else its first bytes: PDF (with a text layer), DOCX, XLSX, PPTX, HTML, CSV/TSV, JSON, plain text and
        Markdown. Headings, lists, links and emphasis are kept; tables become Markdown tables
        (a Word table, each sheet of a workbook under `## Sheet name`, a slide's table, an
        HTML table, CSV, arrays of flat JSON objects, and PDF text that lines up in columns).
        Slides come out as `## Slide N: title` with their notes.

        Bounded against hostile files: a body over 50 MiB is refused, reading stops once 200
        MiB have been decompressed out of a container or PDF stream (a ZIP bomb), at 1,000,000
        table cells, at 20 MiB of Markdown and at 128 levels of nesting; XML that declares a
        DTD is refused rather than expanded.
      security:
        - bearerAuth: []
      parameters:
        - name: filename
          in: query
          required: false
          description: The document's file name; its extension names the format (`report.pdf`, `prices.xlsx`).
          schema:
            type: string
            maxLength: 1024
          example: prices.xlsx
      requestBody:
        required: true
        content:
          application/octet-stream:
            schema:
              type: string
              format: binary
          multipart/form-data:
            schema:
              type: object
              required: [file]
              additionalProperties: false
              properties:
                file:
                  type: string
                  format: binary
          application/pdf:
            schema:
              type: string
              format: binary
          text/html:
            schema:
              type: string
          text/csv:
            schema:
              type: string
      responses:
        '200':
          description: The document as Markdown.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/ConvertedDocument'
              example:
                format: xlsx
                title: Price list
                markdown: "## Prices\n\n| Product | Price |\n| --- | --- |\n| Kettle | 79 |\n"
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`empty_body`: send the document''s bytes as the body.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '413':
          description: |
            `document_too_large`: the document expands past the limits above (say which);
            `payload_too_large`: the body itself is over 50 MiB.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
        '415':
          description: |
            `unsupported_format`: the format is not recognised, or is a legacy one (.doc, .xls,
            .ppt, .rtf, .odt): the message says which format to save it as.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
        '422':
          description: |
            `unreadable_document`: the file is damaged or truncated, encrypted or
            password-protected, a PDF without a text layer (a scan: OCR it first) or whose fonts
            carry no Unicode mapping, malformed JSON, or XML with a DTD. The message says which
            and what to do.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
  /api/workflows/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/WorkflowID'
    get:
      tags: [seed-compatible]
      operationId: getWorkflowSeed
      summary: One run with its reasoning chain (seed 000 path). Any role.
      description: |
        The run's fields as on `GET /v1/workflows/{id}`, without `approvals`, plus
        `reasoning_chain`: one entry per tool step, built from the run's stored events.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The run with its reasoning chain.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/WorkflowWithReasoning'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_workflow_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`workflow_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /api/workflows/{id}/status:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/WorkflowID'
    get:
      tags: [seed-compatible]
      operationId: getWorkflowStatusSeed
      summary: A run's status (seed 000 path). Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The run's status.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/WorkflowStatusSummary'
              example:
                workflow_id: 019b2f70-1c2d-7e3f-8a4b-5c6d7e8f9a0b
                status: COMPLETED
                created_at: '2026-01-31T09:00:00.000Z'
                updated_at: '2026-01-31T09:00:02.350Z'
                has_final_response: true
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_workflow_id`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`workflow_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /ws:
    get:
      tags: [websocket]
      operationId: openWebSocket
      summary: WebSocket for starting, following, cancelling and approving runs. Any role to connect.
      description: |
        A WebSocket upgrade (`Connection: Upgrade`, `Upgrade: websocket`). The upgrade request
        must carry `Authorization: Bearer <api key>`; there is no other way to authenticate
        (no query-string or subprotocol token). Without a usable key the answer is 401 and no
        upgrade happens. Each message then checks the permission of its action as the HTTP
        routes do.

        Client messages are JSON text frames (at most 1 MiB) with a `type`:

        - `{"type":"message","content":"...","session_id":"..."}` starts a run (`session_id`
          optional; `message` is accepted for `content`) and follows it from `seq` 1.
        - `{"type":"subscribe","workflow_id":"...","after":12}` follows an existing run after
          `after` (default 0).
        - `{"type":"cancel","workflow_id":"..."}` cancels a run.
        - `{"type":"approve","approval_id":"...","decision":"deny","comment":"...","workflow_id":"..."}`
          decides an approval; `decision` defaults to `approve`. `{"type":"deny", ...}` is the
          same with `decision` defaulting to `deny`.

        For `cancel`, `approve` and `deny`, `workflow_id` defaults to the run the connection
        followed last.

        Server messages are text frames: each event of every followed run, as the same JSON
        object as the SSE `data` (with `type`, `workflow_id` and `seq`; no heartbeats), and
        `{"type":"error","code":"...","message":"..."}` when a client message cannot be served.
        Successful cancels and decisions get no reply of their own; their effect arrives as
        events. When the server shuts down, each followed run gets a `reconnect` object, then
        `{"type":"reconnect","reason":"server_shutdown","retry_ms":1000}` and close code 1012.
        Full protocol and error codes: docs/events.md.
      security:
        - bearerAuth: []
      responses:
        '101':
          description: Switching protocols; the connection is now a WebSocket.
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`upgrade_required`: the request is not a WebSocket upgrade.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
  /v1/mcp/servers:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [mcp]
      operationId: listMCPServers
      summary: The tenant's MCP servers, by name. Any role.
      description: |
        Alphabetical by name; to page, pass the previous page's `next_cursor` as `after`.
        Secrets (environment values, header values) are never returned: only their names.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/Limit50'
        - $ref: '#/components/parameters/After'
      responses:
        '200':
          description: A page of servers.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/MCPServer'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    post:
      tags: [mcp]
      operationId: createMCPServer
      summary: Register an MCP server (stdio, http or builtin). Admin.
      description: |
        A stdio server's `command` must be one the installation allows
        (`PARLEY_MCP_STDIO_COMMANDS`; otherwise 400 `mcp_command_not_allowed`); it runs without a
        shell with `args` and `env`. An http server's `url` must reach a public address unless
        the installation allows it in `PARLEY_OUTBOUND_ALLOW` (400 `outbound_address_refused`).
        `env` and `headers` are secrets: sealed with the installation key, never returned.
        Unknown fields answer 400 `unknown_field` naming them. Audited (`mcp_server.create`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/MCPServerRequest'
      responses:
        '201':
          description: The server (not yet discovered).
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPServer'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_mcp_server`, `mcp_command_not_allowed`, `outbound_address_refused`, `unknown_field`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`mcp_server_name_taken`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/mcp/servers/{id}:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/MCPServerRef'
    get:
      tags: [mcp]
      operationId: getMCPServer
      summary: One MCP server, with its discovered tools and last health check. Any role.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The server.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPServer'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`mcp_server_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    patch:
      tags: [mcp]
      operationId: updateMCPServer
      summary: Change an MCP server (absent fields stay). Admin.
      description: |
        Checked like a create; the transport cannot change. `env` or `headers` replace the
        stored ones whole. The server's connection (a stdio process) is restarted on the next
        call. Audited (`mcp_server.update`).
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: '#/components/schemas/MCPServerRequest'
      responses:
        '200':
          description: The changed server.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPServer'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_mcp_server`, `mcp_command_not_allowed`, `outbound_address_refused`, `unknown_field`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`mcp_server_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`mcp_server_name_taken`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
    delete:
      tags: [mcp]
      operationId: deleteMCPServer
      summary: Remove an MCP server (its process is stopped, its tools leave the agents). Admin.
      description: Its recorded executions stay. Audited (`mcp_server.delete`).
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The removed server.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPServer'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`mcp_server_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/mcp/servers/{id}/discover:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/MCPServerRef'
    post:
      tags: [mcp]
      operationId: discoverMCPServer
      summary: Connect, list the server's tools and store them; they become agent tools `server__tool`. Admin.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The server with its tools.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPServer'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`mcp_command_not_allowed` (the allow-list changed since the server was registered).'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`mcp_server_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`mcp_server_disabled`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          description: '`mcp_server_unavailable` (the server could not be started or reached; it is marked down) or `database_unavailable`.'
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Error'
  /v1/mcp/servers/{id}/health:
    parameters:
      - $ref: '#/components/parameters/RequestID'
      - $ref: '#/components/parameters/MCPServerRef'
    get:
      tags: [mcp]
      operationId: checkMCPServerHealth
      summary: Ping the server and record whether it answered. Any role.
      description: |
        A server found `down` has its tools taken from the agents (and its connection closed, so
        calls in flight end with an error) until a later check finds it `up`. A disabled server
        is not pinged.
      security:
        - bearerAuth: []
      responses:
        '200':
          description: The result of the check.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPServerHealth'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`mcp_server_not_found`.'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/mcp/execute:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    post:
      tags: [mcp]
      operationId: executeMCPTool
      summary: Call one tool of an MCP server; the call is recorded whatever its outcome. Operator or admin (or a service key).
      description: |
        When the server was discovered, the tool must be one of its tools and `arguments` must
        match its input schema (400 `invalid_arguments`). A call that was made answers 200 with
        its record: `outcome` says whether it succeeded (`success`, `tool_error`, `timeout`,
        `unavailable`); `output` is cut at the server's `max_output_bytes`.
      security:
        - bearerAuth: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [server, tool]
              properties:
                server:
                  type: string
                  description: The server's name or id.
                tool:
                  type: string
                  description: The tool's name on that server (without the `server__` prefix).
                arguments:
                  type: object
                  description: The tool's input (default `{}`).
      responses:
        '200':
          description: The recorded call.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/MCPExecution'
        '400':
          $ref: '#/components/responses/BadRequest'
          description: '`invalid_arguments`, `unknown_field`, `invalid_json`.'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`mcp_server_not_found`, `mcp_tool_not_found`.'
        '409':
          $ref: '#/components/responses/Conflict'
          description: '`mcp_server_disabled`.'
        '413':
          $ref: '#/components/responses/PayloadTooLarge'
        '415':
          $ref: '#/components/responses/UnsupportedMediaType'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
  /v1/mcp/executions:
    parameters:
      - $ref: '#/components/parameters/RequestID'
    get:
      tags: [mcp]
      operationId: listMCPExecutions
      summary: Every call made to the tenant's MCP servers (by the API and by agents), newest first. Any role.
      security:
        - bearerAuth: []
      parameters:
        - $ref: '#/components/parameters/Limit50'
        - $ref: '#/components/parameters/Before'
        - name: server_id
          in: query
          required: false
          description: Only this server's calls (its id or name).
          schema:
            type: string
      responses:
        '200':
          description: A page of calls.
          headers:
            X-Request-ID:
              $ref: '#/components/headers/X-Request-ID'
          content:
            application/json:
              schema:
                type: object
                required: [data, next_cursor]
                properties:
                  data:
                    type: array
                    items:
                      $ref: '#/components/schemas/MCPExecution'
                  next_cursor:
                    type: [string, 'null']
        '400':
          $ref: '#/components/responses/BadRequest'
        '401':
          $ref: '#/components/responses/Unauthorized'
        '403':
          $ref: '#/components/responses/Forbidden'
        '404':
          $ref: '#/components/responses/NotFound'
          description: '`mcp_server_not_found` (`server_id`).'
        '429':
          $ref: '#/components/responses/TooManyRequests'
        '500':
          $ref: '#/components/responses/InternalError'
        '503':
          $ref: '#/components/responses/DatabaseUnavailable'
components:
  securitySchemes:
    bearerAuth:
      type: http
      scheme: bearer
      description: |
        An API key: `prk_` followed by 43 base62 characters, or the value of PARLEY_ADMIN_KEY
        for the first-start admin key. Created by `POST /v1/api-keys`, `parley apikey create`
        or the first start of `parley serve`. Or a person's access token (a JWT) from
        `POST /v1/auth/login`.
  parameters:
    Limit50:
      name: limit
      in: query
      required: false
      description: Page size, 1 to 200 (default 50).
      schema:
        type: integer
        minimum: 1
        maximum: 200
        default: 50
    IncludeDeleted:
      name: include_deleted
      in: query
      required: false
      description: '`true` lists soft-deleted entries too (with `deleted_at` set); anything but true/false answers 400 `invalid_query`.'
      schema:
        type: boolean
        default: false
    FlowRef:
      name: id
      in: path
      required: true
      description: The flow's id (UUIDv7) or its name.
      schema:
        type: string
    FlowExecutionID:
      name: id
      in: path
      required: true
      description: The execution's id (UUIDv7).
      schema:
        type: string
    AgentRef:
      name: id
      in: path
      required: true
      description: The agent's id (UUIDv7) or its name (`assistant` is the default agent).
      schema:
        type: string
    ConversationID:
      name: id
      in: path
      required: true
      description: The conversation's (session's) id (UUIDv7); anything else answers 400 `invalid_conversation_id`.
      schema:
        type: string
        format: uuid
    Before:
      name: before
      in: query
      required: false
      description: |
        The paging cursor of every list that shows the newest first: the `next_cursor` of the
        previous page; the page then holds only older entries. Omit it for the newest page. Lists
        read in order take `After` instead. A misspelt paging parameter (`cursor`, `page`,
        `offset`) answers 400 `unknown_parameter` naming the right one.
      schema:
        type: string
        minLength: 1
    After:
      name: after
      in: query
      required: false
      description: |
        The paging cursor of every list read in order (oldest first, or alphabetically): the
        `next_cursor` of the previous page; the page then holds only the entries after it. Omit
        it for the first page. A misspelt paging parameter answers 400 `unknown_parameter`
        naming the right one.
      schema:
        type: string
        minLength: 1
    TenantSlug:
      name: tenant_slug
      in: path
      required: true
      description: The tenant's slug (as in `GET /v1/tenant`).
      schema:
        type: string
    ChatSlug:
      name: slug
      in: path
      required: true
      description: The tenant's slug; its chat page must be switched on (`PUT /v1/tenant/widget`).
      schema:
        type: string
    MCPServerRef:
      name: id
      in: path
      required: true
      description: The MCP server's id (UUIDv7) or its name.
      schema:
        type: string
    RequestID:
      name: X-Request-ID
      in: header
      required: false
      description: |
        Correlation id, echoed on the response and on every log line of the request. Used when
        it is 1 to 128 visible ASCII characters without spaces; otherwise a UUIDv7 is generated.
      schema:
        type: string
        maxLength: 128
    WorkflowID:
      name: id
      in: path
      required: true
      description: The run's id (UUIDv7); anything else answers 400 `invalid_workflow_id`.
      schema:
        type: string
        format: uuid
    HandoffID:
      name: id
      in: path
      required: true
      description: The hand-off's id (UUIDv7); anything else answers 400 `invalid_handoff_id`.
      schema:
        type: string
        format: uuid
    SessionID:
      name: id
      in: path
      required: true
      description: The session's id (UUIDv7); anything else answers 400 `invalid_session_id`.
      schema:
        type: string
        format: uuid
    TemplateName:
      name: name
      in: path
      required: true
      description: |
        The template's name: 1 to 64 lowercase letters, digits, `_`, `-` and `.` (not first,
        not last, never two in a row), e.g. `appointment_reminder`, or `pack.reminder` for a pack's own template.
      schema:
        type: string
    IdempotencyKey:
      name: Idempotency-Key
      in: header
      required: false
      description: |
        Makes retrying the request safe; used instead of `idempotency_key` in the body when
        both are sent. 1 to 200 characters on one line, otherwise 400 `invalid_idempotency_key`.
      schema:
        type: string
        minLength: 1
        maxLength: 200
  headers:
    X-Request-ID:
      description: The request's id; the same value as `error.request_id` in an error body.
      schema:
        type: string
    WWW-Authenticate:
      description: Always `Bearer` on a 401.
      schema:
        type: string
        const: Bearer
    Allow:
      description: The methods the path accepts, comma-separated, e.g. `GET, POST`.
      schema:
        type: string
    Retry-After:
      description: Seconds to wait before the bucket that refused has a token again.
      schema:
        type: integer
        minimum: 1
    RateLimit-Limit:
      description: The bucket's capacity (the most requests it allows at once). On a 429 the bucket that refused; otherwise the key's (or user's) bucket.
      schema:
        type: integer
        minimum: 1
    RateLimit-Remaining:
      description: Whole requests the bucket allows right now, after this one.
      schema:
        type: integer
        minimum: 0
    RateLimit-Reset:
      description: Seconds until the bucket is full again.
      schema:
        type: integer
        minimum: 0
  schemas:
    MCPServerRequest:
      type: object
      additionalProperties: false
      description: A create (name and transport required, plus command, url or builtin) or a PATCH (any field).
      properties:
        name:
          type: string
          pattern: '^[a-z0-9](?:[a-z0-9_]{0,30}[a-z0-9])?$'
          description: Prefixes the server's tools for agents (`name__tool`); no `__` inside.
        transport:
          type: string
          enum: [stdio, http, builtin]
        command:
          type: string
          description: stdio. An executable listed in PARLEY_MCP_STDIO_COMMANDS, run without a shell.
        args:
          type: array
          maxItems: 100
          items:
            type: string
        env:
          type: object
          description: stdio. Environment variables (secret; sealed, never returned). Replaces the stored set.
          additionalProperties:
            type: string
        url:
          type: string
          description: http. The Streamable HTTP endpoint.
        headers:
          type: object
          description: http. Headers sent with every request (secret; sealed, never returned). Replaces the stored set.
          additionalProperties:
            type: string
        builtin:
          type: string
          description: builtin. The name of one of the installation's built-in servers.
        enabled:
          type: boolean
        timeout_ms:
          type: integer
          minimum: 100
          maximum: 600000
          description: The time limit of one call (default PARLEY_MCP_TIMEOUT_SECONDS).
        max_output_bytes:
          type: integer
          minimum: 100
          maximum: 10000000
          description: A tool's output is cut at this size (default PARLEY_MCP_MAX_OUTPUT_BYTES).
        tool_policies:
          type: object
          description: Per tool (its name on the server), the approval policy when the tenant set none for `server__tool`.
          additionalProperties:
            type: string
            enum: [auto, require_approval, disabled]
    MCPServer:
      type: object
      required: [id, name, transport, enabled, timeout_ms, max_output_bytes, tool_policies, health, tools, discovered_at, created_at, updated_at]
      properties:
        id:
          type: string
        name:
          type: string
        transport:
          type: string
          enum: [stdio, http, builtin]
        command:
          type: [string, 'null']
        args:
          type: array
          items:
            type: string
        env:
          type: array
          description: The names of the environment variables (never their values).
          items:
            type: string
        url:
          type: [string, 'null']
        headers:
          type: array
          description: The names of the headers (never their values).
          items:
            type: string
        builtin:
          type: [string, 'null']
        enabled:
          type: boolean
        timeout_ms:
          type: integer
        max_output_bytes:
          type: integer
        tool_policies:
          type: object
          additionalProperties:
            type: string
        health:
          type: object
          required: [status, error, checked_at]
          properties:
            status:
              type: string
              enum: [unknown, up, down]
            error:
              type: [string, 'null']
            checked_at:
              $ref: '#/components/schemas/NullableTimestamp'
        tools:
          type: [array, 'null']
          description: What the last discovery found (null before the first).
          items:
            type: object
            required: [name, agent_tool, description, input_schema, read_only]
            properties:
              name:
                type: string
              agent_tool:
                type: string
                description: The name agents call it by, `server__tool`.
              description:
                type: string
              input_schema:
                type: object
              read_only:
                type: boolean
                description: The server says the tool changes nothing; other tools need approval unless a policy says otherwise.
        discovered_at:
          $ref: '#/components/schemas/NullableTimestamp'
        created_at:
          $ref: '#/components/schemas/Timestamp'
        updated_at:
          $ref: '#/components/schemas/Timestamp'
    MCPServerHealth:
      type: object
      required: [server_id, name, enabled, status, error, checked_at]
      properties:
        server_id:
          type: string
        name:
          type: string
        enabled:
          type: boolean
        status:
          type: string
          enum: [unknown, up, down]
        error:
          type: [string, 'null']
        checked_at:
          $ref: '#/components/schemas/NullableTimestamp'
    MCPExecution:
      type: object
      required: [id, server_id, server, tool, input, output, output_truncated, outcome, duration_ms, actor, workflow_id, created_at]
      properties:
        id:
          type: string
        server_id:
          type: string
        server:
          type: string
        tool:
          type: string
        input:
          type: object
        output:
          type: string
          description: The tool's text (the record keeps at most 64 KiB).
        output_truncated:
          type: boolean
        outcome:
          type: string
          enum: [success, tool_error, timeout, unavailable, refused]
        duration_ms:
          type: integer
        actor:
          type: string
          description: Who called (`api_key:<id>`, `user:<id>`); an agent's call is its run's owner.
        workflow_id:
          type: [string, 'null']
          description: The agent run that made the call, if one did.
        created_at:
          $ref: '#/components/schemas/Timestamp'
    MCPMessage:
      type: object
      description: One JSON-RPC 2.0 message (a request, a notification, or a response to the server).
      required: [jsonrpc]
      properties:
        jsonrpc:
          type: string
          enum: ['2.0']
        id:
          oneOf:
            - type: string
            - type: integer
        method:
          type: string
          examples: [initialize, ping, tools/list, tools/call, notifications/initialized]
        params:
          type: object
        result:
          type: object
        error:
          type: object
    MCPResponse:
      type: object
      description: A JSON-RPC 2.0 response, with `result` or `error` (`code`, `message`, optional `data`).
      required: [jsonrpc, id]
      properties:
        jsonrpc:
          type: string
          enum: ['2.0']
        id:
          oneOf:
            - type: string
            - type: integer
            - type: 'null'
        result:
          type: object
        error:
          type: object
          required: [code, message]
          properties:
            code:
              type: integer
            message:
              type: string
            data: {}
    MCPErrorBody:
      description: A JSON-RPC error response, or Parley's error envelope when a rule shared with every route refused the request.
      anyOf:
        - $ref: '#/components/schemas/MCPResponse'
        - $ref: '#/components/schemas/Error'
    MCPServerSentEvent:
      type: object
      description: The JSON-RPC response as one server-sent event (event type `message`, the response as `data` on one line).
      required: [data]
      properties:
        event:
          type: string
          enum: [message]
        data:
          type: string
    OpenAIModel:
      type: object
      required: [id, object, created, owned_by]
      properties:
        id:
          type: string
          description: The agent's name.
        object:
          const: model
        created:
          type: integer
          description: When the agent was created, in seconds since 1970.
        owned_by:
          type: string
    OpenAIModelList:
      type: object
      required: [object, data]
      properties:
        object:
          const: list
        data:
          type: array
          items:
            $ref: '#/components/schemas/OpenAIModel'
    ChatCompletionRequest:
      type: object
      required: [model, messages]
      additionalProperties: false
      properties:
        model:
          type: string
          description: An agent's name or id (GET /v1/models).
        messages:
          type: array
          minItems: 1
          items:
            type: object
            additionalProperties: false
            required: [role, content]
            properties:
              role:
                enum: [system, developer, user, assistant]
              content:
                oneOf:
                  - type: string
                  - type: array
                    items:
                      type: object
                      required: [type, text]
                      properties:
                        type:
                          const: text
                        text:
                          type: string
              name:
                type: string
        stream:
          type: boolean
        stream_options:
          type: object
          additionalProperties: false
          properties:
            include_usage:
              type: boolean
        n:
          const: 1
        temperature:
          type: number
        top_p:
          type: number
        max_tokens:
          type: integer
        max_completion_tokens:
          type: integer
        user:
          type: string
        metadata:
          type: object
        seed:
          type: integer
        presence_penalty:
          type: number
        frequency_penalty:
          type: number
        store:
          type: boolean
        parallel_tool_calls:
          type: boolean
    ChatCompletion:
      type: object
      required: [id, object, created, model, choices, usage, parley]
      properties:
        id:
          type: string
          description: '`chatcmpl-` and the run id.'
        object:
          const: chat.completion
        created:
          type: integer
        model:
          type: string
        choices:
          type: array
          items:
            type: object
            required: [index, message, finish_reason]
            properties:
              index:
                type: integer
              message:
                type: object
                required: [role, content]
                properties:
                  role:
                    const: assistant
                  content:
                    type: string
                  refusal:
                    type: [string, 'null']
              finish_reason:
                type: string
        usage:
          type: object
          required: [prompt_tokens, completion_tokens, total_tokens]
          properties:
            prompt_tokens:
              type: integer
            completion_tokens:
              type: integer
            total_tokens:
              type: integer
        parley:
          type: object
          required: [workflow_id, status]
          properties:
            workflow_id:
              type: string
            status:
              enum: [COMPLETED, WAITING]
    TokenBucket:
      type: object
      required: [capacity, refill_per_minute, source]
      properties:
        capacity:
          type: integer
          minimum: 1
          maximum: 1000000
          description: Requests allowed at once (`RateLimit-Limit`).
        refill_per_minute:
          type: integer
          minimum: 1
          maximum: 6000000
          description: Requests the bucket regains per minute, evenly.
        source:
          type: string
          enum: [default, tenant]
          description: '`tenant` when the tenant set it, `default` for the installation''s setting.'
    TokenBucketChange:
      type: [object, 'null']
      description: Both figures, or null to go back to the installation's default.
      additionalProperties: false
      required: [capacity, refill_per_minute]
      properties:
        capacity:
          type: integer
          minimum: 1
          maximum: 1000000
        refill_per_minute:
          type: integer
          minimum: 1
          maximum: 6000000
    TenantLimits:
      type: object
      required: [key, tenant, updated_at]
      properties:
        key:
          $ref: '#/components/schemas/TokenBucket'
          description: Each API key's (or signed-in user's) own bucket.
        tenant:
          $ref: '#/components/schemas/TokenBucket'
          description: The bucket all of the tenant's callers share.
        updated_at:
          type: [string, 'null']
          format: date-time
          description: When the tenant last changed its limits; null while it never has.
    WidgetSettings:
      type: object
      required: [enabled, public_key, allowed_origins, page_path, widget_script_path]
      properties:
        enabled:
          type: boolean
          description: Whether `/c/{slug}` answers (404 `chat_not_found` while off).
        public_key:
          type: [string, 'null']
          description: '`pk_` and 32 random characters; not a secret (it is in every page embedding the widget), but rotatable.'
        allowed_origins:
          type: array
          items:
            type: string
        title:
          type: [string, 'null']
        greeting:
          type: [string, 'null']
        page_path:
          type: string
          examples: [/c/acme]
        widget_script_path:
          type: string
          examples: [/c/acme/widget.js]
        updated_at:
          type: [string, 'null']
          format: date-time
    ConvertedDocument:
      type: object
      required: [format, title, markdown]
      properties:
        format:
          type: string
          enum: [pdf, docx, xlsx, pptx, html, csv, json, text, markdown]
        title:
          type: [string, 'null']
          description: The document's title when it names one (document properties, `<title>`, a first heading).
        markdown:
          type: string
    TwilioStatusCallback:
      type: object
      description: The fields Parley reads; Twilio sends more, and all are covered by the signature.
      required: [MessageSid, MessageStatus]
      properties:
        MessageSid:
          type: string
        MessageStatus:
          type: string
          description: queued, sending, sent, delivered, undelivered, failed (and others, ignored).
        ErrorCode:
          type: string
    TwilioInboundSMS:
      type: object
      required: [From, Body]
      properties:
        MessageSid:
          type: string
        From:
          type: string
        Body:
          type: string
    SendGridEvent:
      type: object
      required: [event]
      properties:
        event:
          type: string
        sg_message_id:
          type: string
        sg_event_id:
          type: string
        type:
          type: string
          description: For `bounce`, `bounce` or `blocked`.
        reason:
          type: string
    ResendEvent:
      type: object
      required: [type]
      properties:
        type:
          type: string
        created_at:
          type: string
        data:
          type: object
          properties:
            email_id:
              type: string
            bounce:
              type: object
              properties:
                type:
                  type: string
                message:
                  type: string
    Error:
      type: object
      required: [error]
      properties:
        error:
          type: object
          required: [code, message, request_id]
          properties:
            code:
              type: string
              description: Stable, machine-readable; clients branch on this.
              examples: [invalid_json, missing_api_key, forbidden, database_unavailable]
            message:
              type: string
              description: For people; may change between versions.
            request_id:
              type: string
              description: The request's id, also in the `X-Request-ID` response header.
      example:
        error:
          code: invalid_json
          message: missing field 'role'
          request_id: 019b2f6e-8a1c-7d3e-9f40-5b6c7d8e9f01
    Timestamp:
      type: string
      format: date-time
      description: ISO 8601 in UTC with milliseconds.
      examples: ['2026-01-31T09:00:00.000Z']
    Role:
      type: string
      enum: [admin, operator, viewer, service]
      description: |
        admin: everything, including API keys and the audit log. operator: read the tenant,
        use the product and operate work done by others. viewer: read the tenant. service:
        read the tenant and use the product.
    Health:
      type: object
      required: [status]
      properties:
        status:
          type: string
          const: ok
    Ready:
      type: object
      required: [status]
      properties:
        status:
          type: string
          enum: [ready, unavailable]
        reason:
          type: string
          description: Present when `status` is `unavailable`.
    Status:
      type: object
      required: [status, service, version]
      properties:
        status:
          type: string
          const: running
        service:
          type: string
          const: parley
        version:
          type: string
        packs:
          type: object
          description: |
            What installed packs report about themselves, by pack name: plain facts such as a
            feature running in a reduced mode (e.g. `{"support": {"search": "bm25 only: ..."}}`).
          additionalProperties:
            type: object
            additionalProperties:
              type: string
    RootStatus:
      type: object
      required: [status, database]
      properties:
        status:
          type: string
          enum: [operational, degraded]
        database:
          type: string
          enum: [connected, unavailable]
    TenantPackList:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            type: object
            required: [name, enabled]
            properties:
              name: { type: string, examples: [notes] }
              enabled: { type: boolean }
        next_cursor:
          type: 'null'
    Tenant:
      type: object
      required: [id, name, slug, time_zone, handoff_email, created_at]
      properties:
        id:
          type: string
          description: UUIDv7.
        name:
          type: string
        slug:
          type: string
          description: 1 to 64 characters of a-z, 0-9 and '-'.
        time_zone:
          type: string
          description: IANA time zone, e.g. Europe/Paris. Messages' quiet hours are in this zone.
        handoff_email:
          type: [string, 'null']
          description: Where staff are told of new hand-offs (docs/handoff.md); null sends nothing.
        created_at:
          $ref: '#/components/schemas/Timestamp'
      example:
        id: 019b2f6e-0000-7abc-8def-0123456789ab
        name: Default
        slug: default
        time_zone: UTC
        handoff_email: null
        created_at: '2026-01-31T09:00:00.000Z'
    APIKey:
      type: object
      required: [id, tenant_id, name, role, prefix, created_at]
      properties:
        id:
          type: string
          description: UUIDv7.
        tenant_id:
          type: string
        name:
          type: string
        role:
          $ref: '#/components/schemas/Role'
        prefix:
          type: string
          description: The first 16 characters of the secret, to recognise a key.
        created_at:
          $ref: '#/components/schemas/Timestamp'
        expires_at:
          $ref: '#/components/schemas/Timestamp'
        revoked_at:
          $ref: '#/components/schemas/Timestamp'
        deleted_at:
          allOf:
            - $ref: '#/components/schemas/Timestamp'
          description: Set while the key is revoked (soft-deleted) and restorable; absent otherwise.
        last_used_at:
          allOf:
            - $ref: '#/components/schemas/Timestamp'
          description: Last successful authentication, refreshed at most once a minute.
        secret:
          type: string
          description: The key itself. Only in the response that creates the key.
    CreateAPIKeyRequest:
      type: object
      additionalProperties: false
      required: [name, role]
      properties:
        name:
          type: string
          minLength: 1
          pattern: '\S'
          description: 1 to 200 characters after trimming whitespace; otherwise 400 `invalid_name`.
        role:
          type: string
          enum: [admin, operator, viewer, service]
          description: Any other value answers 400 `invalid_role`.
        expires_at:
          type: string
          format: date-time
          description: |
            Optional; the key never expires without it. Must be in the future, otherwise 400
            `invalid_expires_at`. Fractional seconds are optional.
    APIKeyList:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/APIKey'
        next_cursor:
          type: 'null'
          description: Not paginated; always null.
    AuditEntry:
      type: object
      required: [id, tenant_id, actor, action, target_type, created_at]
      properties:
        id:
          type: string
          description: UUIDv7; entries sort by id in time order.
        tenant_id:
          type: string
        actor:
          type: string
          description: '`api_key:<key id>` for API calls, `cli` for the command line, `system` for first-start setup.'
        action:
          type: string
          examples: [tenant.create, api_key.create, api_key.revoke]
        target_type:
          type: string
          examples: [tenant, api_key]
        target_id:
          type: string
        request_id:
          type: string
          description: The `X-Request-ID` of the request that made the change (absent for the CLI).
        details:
          type: string
          examples: [role=admin]
        created_at:
          $ref: '#/components/schemas/Timestamp'
    AuditLogPage:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/AuditEntry'
        next_cursor:
          type: [string, 'null']
          description: Pass as `before` to get the next page; null on the last page.
    NullableTimestamp:
      anyOf:
        - $ref: '#/components/schemas/Timestamp'
        - type: 'null'
    ChatRequest:
      type: object
      additionalProperties: false
      required: [message]
      properties:
        message:
          type: string
          minLength: 1
          pattern: '\S'
          description: |
            The user's message. Trimmed; empty answers 400 `empty_message`, longer than
            `PARLEY_MAX_MESSAGE_CHARS` (default 32,000 characters) 400 `message_too_long`.
        session_id:
          type: string
          format: uuid
          description: |
            Optional session to continue. Not a UUIDv7: 400 `invalid_session_id`; not in the
            tenant: 404 `session_not_found`.
    WorkflowStatus:
      type: string
      enum: [PENDING, PROCESSING, WAITING_APPROVAL, WAITING_HUMAN, COMPLETED, FAILED, CANCELLED]
      description: |
        A run starts in `PROCESSING`, moves to `WAITING_APPROVAL` while a tool call waits for a
        person and back to `PROCESSING` once every approval of the turn is decided, to
        `WAITING_HUMAN` while its conversation is handed to a person (back to `PROCESSING` when
        they hand it back: `POST /v1/handoffs/{id}/return`), and ends in
        `COMPLETED`, `FAILED` or `CANCELLED`. `PENDING` is accepted as a filter but no run is
        put in it by this version.
    Workflow:
      type: object
      description: One agent run. Every field is always present; those without a value are null.
      required: [workflow_id, status, session_id, initial_prompt, final_response, agent_type, provider,
                 error_type, error_message, total_steps, tools_used, usage, created_at, updated_at,
                 started_at, completed_at]
      properties:
        workflow_id:
          type: string
          description: UUIDv7.
        status:
          $ref: '#/components/schemas/WorkflowStatus'
        session_id:
          type: [string, 'null']
        initial_prompt:
          type: string
          description: The user's message, trimmed.
        final_response:
          type: [string, 'null']
          description: The answer; set when the run is COMPLETED.
        agent_type:
          type: string
          examples: [ParleyAgent]
        provider:
          type: [string, 'null']
          description: The model provider that answered last, e.g. `anthropic`, `openai` or `offline`.
        error_type:
          type: [string, 'null']
          description: Set when the run is FAILED or CANCELLED; the values are listed in docs/events.md.
          examples: [cancelled, timeout, provider_unavailable]
        error_message:
          type: [string, 'null']
          description: A message for the user, e.g. `The run was cancelled`.
        total_steps:
          type: integer
          description: Tool calls the model made so far.
        tools_used:
          type: array
          description: Names of the tools called, in first-use order, without repeats.
          items:
            type: string
        usage:
          type: object
          required: [input_tokens, output_tokens]
          properties:
            input_tokens:
              type: integer
            output_tokens:
              type: integer
        created_at:
          $ref: '#/components/schemas/Timestamp'
        updated_at:
          $ref: '#/components/schemas/Timestamp'
        started_at:
          $ref: '#/components/schemas/NullableTimestamp'
        completed_at:
          allOf:
            - $ref: '#/components/schemas/NullableTimestamp'
          description: When the run ended; null until then.
        agent_id:
          type: [string, 'null']
          description: The agent the run used (`/v1/agents/{id}`); null for runs from before agents were data and for an MCP client's direct tool calls (docs/mcp.md).
        agent_version:
          type: [integer, 'null']
          description: The version of that agent the run used.
      example:
        workflow_id: 019b2f70-1c2d-7e3f-8a4b-5c6d7e8f9a0b
        status: COMPLETED
        session_id: null
        initial_prompt: show recent runs
        final_response: "Recent runs:\n- 2026-01-31T08:55:00.000Z COMPLETED: give me an account overview"
        agent_type: ParleyAgent
        provider: offline
        error_type: null
        error_message: null
        total_steps: 1
        tools_used: [list_recent_runs]
        usage:
          input_tokens: 0
          output_tokens: 0
        created_at: '2026-01-31T09:00:00.000Z'
        updated_at: '2026-01-31T09:00:00.012Z'
        started_at: '2026-01-31T09:00:00.000Z'
        completed_at: '2026-01-31T09:00:00.012Z'
    WorkflowWithApprovals:
      allOf:
        - $ref: '#/components/schemas/Workflow'
        - type: object
          required: [approvals]
          properties:
            approvals:
              type: array
              items:
                $ref: '#/components/schemas/Approval'
    WorkflowWithReasoning:
      allOf:
        - $ref: '#/components/schemas/Workflow'
        - type: object
          required: [reasoning_chain]
          properties:
            reasoning_chain:
              type: array
              items:
                $ref: '#/components/schemas/ReasoningChainEntry'
    ReasoningChainEntry:
      type: object
      description: |
        The fields of one `reasoning_step` event plus its `timestamp`; once the step's
        `tool_end` event exists, also `action_output`, `success` and `duration_ms` from it.
      required: [step_id, thought, action, action_input, step_number, timestamp]
      properties:
        step_id:
          type: string
        thought:
          type: string
        action:
          type: string
          description: The tool called.
        action_input:
          description: The tool's input as JSON (a string when the model sent invalid JSON).
        step_number:
          type: integer
        timestamp:
          $ref: '#/components/schemas/Timestamp'
        action_output:
          description: The tool's output (JSON), or an error text.
        success:
          type: boolean
        duration_ms:
          type: integer
    WorkflowStatusSummary:
      type: object
      required: [workflow_id, status, created_at, updated_at, has_final_response]
      properties:
        workflow_id:
          type: string
        status:
          $ref: '#/components/schemas/WorkflowStatus'
        created_at:
          $ref: '#/components/schemas/Timestamp'
        updated_at:
          $ref: '#/components/schemas/Timestamp'
        has_final_response:
          type: boolean
          description: Whether `final_response` is set (the run COMPLETED).
    WorkflowPage:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/Workflow'
        next_cursor:
          type: [string, 'null']
          description: Pass as `before` for the next page; null when there is none.
    WorkflowEvent:
      type: object
      description: |
        One event of a run. The four fields below are on every event; the others depend on
        `type` and are listed with examples in docs/events.md. Object keys are sent in
        alphabetical order.
      required: [type, workflow_id, seq, timestamp]
      properties:
        type:
          type: string
          enum: [workflow_started, agent_thinking, text_delta, reasoning_step, tool_start, tool_end,
                 approval_required, approval_resolved, workflow_completed, workflow_error, heartbeat,
                 reconnect,
                 handoff, customer_message, human_message, handback]
        workflow_id:
          type: string
        seq:
          type: integer
          minimum: 0
          description: |
            Position in the run's event log: 1 for `workflow_started`, then consecutive. A
            heartbeat or `reconnect` carries the `seq` of the last event its stream delivered.
        timestamp:
          $ref: '#/components/schemas/Timestamp'
      additionalProperties: true
      example:
        type: tool_end
        workflow_id: 019b2f70-1c2d-7e3f-8a4b-5c6d7e8f9a0b
        seq: 5
        timestamp: '2026-01-31T09:00:00.009Z'
        step_id: 019b2f70-1c31-7a00-9b11-223344556677
        call_id: offline_1
        tool: list_recent_runs
        status: success
        success: true
        duration_ms: 3
        output: []
    ChatCompletionServerSentEvent:
      type: object
      description: |
        One event of a streamed chat completion: `data` is a `chat.completion.chunk` as JSON on
        one line, or `{"error": {...}}` when the run failed after the stream began, or the last
        event's `[DONE]`. There are no `id` or `event` lines.
      required: [data]
      properties:
        data:
          type: string
    FlowServerSentEvent:
      type: object
      description: |
        One event of a flow execution's SSE stream (docs/flows.md): `id` is the event's `seq`
        (absent on `reconnect`), `event` its type (`execution_started`, `step_started`,
        `step_completed`, `approval_required`, ..., `reconnect`), `data` the event as JSON on one line.
      required: [event, data]
      properties:
        id:
          type: string
          pattern: '^[0-9]+$'
        event:
          type: string
          pattern: '^[a-z_]+$'
        data:
          type: string
          contentMediaType: application/json
        retry:
          type: integer
          minimum: 0
    WorkflowServerSentEvent:
      type: object
      description: |
        One event of an SSE stream, as its fields (OpenAPI 3.1 describes a `text/event-stream`
        by one event): `id` is the event's `seq` (absent on heartbeats), `event` its `type`,
        and `data` the `WorkflowEvent` as JSON on one line.
      required: [event, data]
      properties:
        id:
          type: string
          pattern: '^[0-9]+$'
        event:
          type: string
          enum: [workflow_started, agent_thinking, text_delta, reasoning_step, tool_start, tool_end,
                 approval_required, approval_resolved, workflow_completed, workflow_error, heartbeat]
        data:
          type: string
          contentMediaType: application/json
          contentSchema:
            $ref: '#/components/schemas/WorkflowEvent'
        retry:
          type: integer
          minimum: 0
    WorkflowEventList:
      type: object
      required: [data]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/WorkflowEvent'
    ApprovalStatus:
      type: string
      enum: [pending, approved, denied]
    Approval:
      type: object
      description: A tool call held back until a person decides. Every field is always present.
      required: [approval_id, workflow_id, tool, input, reason, status, comment, decided_by, created_at, decided_at]
      properties:
        approval_id:
          type: string
          description: UUIDv7.
        workflow_id:
          type: string
        tool:
          type: string
        input:
          description: The input the model gave the tool (JSON).
        reason:
          type: string
          examples: [revoke_api_key changes data; this workspace requires approval before it runs]
        status:
          $ref: '#/components/schemas/ApprovalStatus'
        comment:
          type: [string, 'null']
        decided_by:
          type: [string, 'null']
          description: The deciding key, as `api_key:<key id>`.
        created_at:
          $ref: '#/components/schemas/Timestamp'
        decided_at:
          $ref: '#/components/schemas/NullableTimestamp'
      example:
        approval_id: 019b2f71-0a0b-7c0d-8e0f-101112131415
        workflow_id: 019b2f70-1c2d-7e3f-8a4b-5c6d7e8f9a0b
        tool: revoke_api_key
        input:
          key_id: 019b2f6e-8a1c-7d3e-9f40-5b6c7d8e9f01
        reason: revoke_api_key changes data; this workspace requires approval before it runs
        status: pending
        comment: null
        decided_by: null
        created_at: '2026-01-31T09:00:00.010Z'
        decided_at: null
    ApprovalList:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/Approval'
        next_cursor:
          type: 'null'
          description: Always null; the list is not paginated.
    ApprovalDecision:
      type: object
      additionalProperties: false
      required: [decision]
      properties:
        decision:
          type: string
          enum: [approve, deny]
          description: Case-insensitive; any other value answers 400 `invalid_decision`.
        comment:
          type: string
          description: Optional; trimmed and cut to 2,000 characters.
    SignInRequest:
      type: object
      additionalProperties: false
      description: Exactly one of `api_key`, `token`, or `email` with `password`.
      properties:
        api_key:
          type: string
        token:
          type: string
          description: The one-time token from a `#signin=` link.
        email:
          type: string
          description: A person's account (docs/accounts.md); throttled and audited like `POST /v1/auth/login`.
        password:
          type: string
        tenant:
          type: string
          description: With `email`, the tenant (id or slug) to open; default the account's first.
    ConsoleSession:
      type: object
      required: [csrf_token, tenant, role, key_name, expires_at]
      properties:
        csrf_token:
          type: string
          description: Send as `X-CSRF-Token` on every request that changes something.
        tenant:
          type: object
          required: [id, name, slug, time_zone]
          properties:
            id: {type: string}
            name: {type: string}
            slug: {type: string}
            time_zone: {type: string, description: IANA zone; the console shows times in it.}
        role:
          type: string
          enum: [admin, operator, viewer, service]
        key_name:
          type: string
          description: The name of the API key the session acts as.
        expires_at:
          $ref: '#/components/schemas/Timestamp'
    AgentModel:
      type: [object, 'null']
      description: 'The model the agent uses: a configured provider (optionally another of its models), or `offline` (the offline planner). Null: the server''s models in failover order.'
      required: [provider, model]
      properties:
        provider:
          type: string
          enum: [anthropic, openai, offline]
        model:
          type: [string, 'null']
          description: A model name of that provider (overrides `PARLEY_ANTHROPIC_MODEL` / `PARLEY_OPENAI_MODEL` for this agent).
    AgentLimits:
      type: object
      description: Null values use the server's defaults.
      properties:
        max_tokens:
          type: [integer, 'null']
          minimum: 1
          maximum: 200000
          description: Output tokens per model call.
        max_execution_seconds:
          type: [integer, 'null']
          minimum: 1
          maximum: 3600
          description: How long one stretch of a run may take (`PARLEY_AGENT_TIMEOUT_SECONDS` otherwise).
        max_iterations:
          type: [integer, 'null']
          minimum: 1
          maximum: 100
          description: Model turns per run (`PARLEY_AGENT_MAX_ITERATIONS` otherwise).
    AgentRequest:
      type: object
      additionalProperties: false
      description: The body of `POST /v1/agents` (`name` required) and `PATCH /v1/agents/{id}` (every field optional; null resets).
      properties:
        name:
          type: string
          pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
        description:
          type: [string, 'null']
          maxLength: 500
        model:
          $ref: '#/components/schemas/AgentModel'
        system_prompt:
          type: [string, 'null']
          maxLength: 20000
          description: Replaces the workspace's prompt (the server's and its packs' instructions). Null uses that prompt.
        tools:
          type: [array, 'null']
          maxItems: 200
          description: The only tools the agent is offered and may run. Null means every tool of the workspace's enabled packs.
          items:
            type: string
        knowledge_collections:
          type: array
          maxItems: 50
          description: 'Knowledge collection ids (`GET /v1/rag/collections`) the agent''s `search_knowledge` searches; empty: all of the tenant''s. An id that is not a collection of the tenant is refused (400 `unknown_collection`).'
          items:
            type: string
        limits:
          $ref: '#/components/schemas/AgentLimits'
        approval_overrides:
          type: object
          description: 'Tool name to mode, taking precedence over the tenant''s tool policy: `auto`, `require_approval` (or `ask`), `disabled` (or `deny`).'
          additionalProperties:
            type: string
            enum: [auto, require_approval, disabled, ask, deny]
    Agent:
      type: object
      description: An agent at its current version.
      required: [id, name, description, model, system_prompt, tools, knowledge_collections, limits, approval_overrides, is_default, version,
                 created_at, updated_at, deleted_at]
      properties:
        id:
          type: string
          description: UUIDv7.
        name:
          type: string
        description:
          type: [string, 'null']
        model:
          $ref: '#/components/schemas/AgentModel'
        system_prompt:
          type: [string, 'null']
        tools:
          type: [array, 'null']
          items:
            type: string
        knowledge_collections:
          type: array
          items:
            type: string
        limits:
          $ref: '#/components/schemas/AgentLimits'
        approval_overrides:
          type: object
          additionalProperties:
            type: string
            enum: [auto, require_approval, disabled]
        is_default:
          type: boolean
          description: The workspace's built-in assistant (answers `/v1/chat`, sessions and the customer chat).
        version:
          type: integer
          description: The current version; every change writes a new one.
        created_at:
          $ref: '#/components/schemas/Timestamp'
        updated_at:
          $ref: '#/components/schemas/Timestamp'
        deleted_at:
          $ref: '#/components/schemas/NullableTimestamp'
    FlowRequest:
      type: object
      additionalProperties: false
      description: A flow definition (docs/flows.md). `name` and `steps` are required on create.
      properties:
        name:
          type: string
          pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
        description:
          type: [string, 'null']
          maxLength: 500
        input_schema:
          type: [object, 'null']
          description: A JSON Schema the execution's input must match.
        steps:
          type: array
          minItems: 1
          maxItems: 200
          description: The first step runs first.
          items:
            $ref: '#/components/schemas/FlowStep'
        output:
          description: The execution's output (templates); absent, the last step's output.
    FlowStep:
      type: object
      additionalProperties: false
      required: [id, type]
      properties:
        id:
          type: string
          pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$'
        type:
          type: string
          enum: [transform, condition, tool, agent, delay, approval, parallel, sub_flow, send_message, http]
        config:
          type: object
          description: |
            By type: transform `{output}`; condition `{branches: [{path, op, value, next}], default}`
            (op: eq, ne, gt, gte, lt, lte, contains, exists, not_exists); tool `{tool, input}`; agent
            `{agent, message}`; delay `{seconds}`; approval `{message, on_reject}`; parallel
            `{branches: [step ids], mode: all|any|first, count}`; sub_flow `{flow, input}`; send_message
            `{channel, to, subject, text | template, variables}`; http `{method, url, headers, body, allow_hosts}`.
            Strings may hold `{{input.x}}`, `{{steps.<id>.output.y}}` and JSONPath (`{{$.input.items[*].name}}`).
        next:
          type: [string, 'null']
          description: The step after this one; null or absent ends the flow.
        retries:
          type: object
          additionalProperties: false
          required: [max]
          properties:
            max:
              type: integer
              minimum: 0
              maximum: 10
            backoff_seconds:
              type: number
              minimum: 0.001
              maximum: 3600
            factor:
              type: number
              minimum: 1
              maximum: 10
        timeout_seconds:
          type: [number, 'null']
          minimum: 0.01
          maximum: 86400
        idempotent:
          type: boolean
          description: May run again after an attempt that was interrupted mid-way (a tool with side effects).
    Flow:
      type: object
      required: [id, name, steps, version, created_at, updated_at]
      properties:
        id:
          type: string
        name:
          type: string
        description:
          type: [string, 'null']
        input_schema:
          type: [object, 'null']
        steps:
          type: array
          items:
            $ref: '#/components/schemas/FlowStep'
        output: {}
        version:
          type: integer
        created_at:
          type: string
          format: date-time
        updated_at:
          type: string
          format: date-time
        deleted_at:
          type: [string, 'null']
          format: date-time
    FlowVersion:
      type: object
      required: [flow_id, version, definition, created_by, created_at]
      properties:
        flow_id:
          type: string
        version:
          type: integer
        definition:
          $ref: '#/components/schemas/FlowRequest'
        created_by:
          type: string
        created_at:
          type: string
          format: date-time
    FlowExecution:
      type: object
      required: [id, flow_id, flow_version, status, input, created_at]
      properties:
        id:
          type: string
        flow_id:
          type: string
        flow_version:
          type: integer
        status:
          type: string
          enum: [running, waiting, completed, failed, cancelled]
        input: {}
        output: {}
        error:
          type: [string, 'null']
        parent_execution_id:
          type: [string, 'null']
        parent_step:
          type: [string, 'null']
        created_at:
          type: string
          format: date-time
        updated_at:
          type: string
          format: date-time
        finished_at:
          type: [string, 'null']
          format: date-time
        steps:
          type: array
          description: On `GET /v1/flows/executions/{id}` only.
          items:
            $ref: '#/components/schemas/FlowStepRun'
    FlowStepRun:
      type: object
      required: [id, type, status, attempts]
      properties:
        id:
          type: string
        type:
          type: string
        status:
          type: string
          enum: [pending, running, waiting, retrying, completed, failed, skipped, cancelled]
        input:
          description: The step's config with its templates filled in.
        output: {}
        error:
          type: [string, 'null']
        attempts:
          type: integer
        approval:
          type: [string, 'null']
          enum: [pending, approved, rejected, null]
        handle:
          type: [string, 'null']
          description: An agent step's run id, a sub_flow step's execution id.
        wait_until:
          type: [string, 'null']
          format: date-time
        started_at:
          type: [string, 'null']
          format: date-time
        finished_at:
          type: [string, 'null']
          format: date-time
        duration_ms:
          type: [number, 'null']
    AgentVersion:
      type: object
      required: [agent_id, version, created_by, created_at, definition]
      properties:
        agent_id:
          type: string
        version:
          type: integer
        created_by:
          type: string
          description: The actor that wrote it (`api_key:<id>`, `system` for the default agent's first version).
        created_at:
          $ref: '#/components/schemas/Timestamp'
        definition:
          type: object
          description: The version's fields (name, description, model, system_prompt, tools, knowledge_collections, limits, approval_overrides).
    Conversation:
      type: object
      description: A session under seed 004's name.
      required: [id, session_id, title, state, summary, created_at, updated_at, deleted_at]
      properties:
        id:
          type: string
          description: UUIDv7 (the session's id).
        session_id:
          type: string
        title:
          type: [string, 'null']
        state:
          type: string
          enum: [agent, handed_off]
        summary:
          type: [string, 'null']
        created_at:
          $ref: '#/components/schemas/Timestamp'
        updated_at:
          $ref: '#/components/schemas/Timestamp'
        deleted_at:
          $ref: '#/components/schemas/NullableTimestamp'
    ConversationDetail:
      allOf:
        - $ref: '#/components/schemas/Conversation'
        - type: object
          required: [messages, tool_executions]
          properties:
            messages:
              type: array
              items:
                $ref: '#/components/schemas/SessionMessage'
            tool_executions:
              type: array
              items:
                $ref: '#/components/schemas/ToolExecution'
    ToolExecution:
      type: object
      description: One tool call of the conversation's runs (its `tool_start` and `tool_end` events).
      required: [call_id, workflow_id, tool, input, output, status, duration_ms, started_at, completed_at]
      properties:
        call_id:
          type: string
        workflow_id:
          type: string
        tool:
          type: string
        input:
          description: The arguments (null for a call refused before it started).
        output:
          description: What the tool returned (null while it runs).
        status:
          type: [string, 'null']
          description: As on `tool_end`, e.g. `success`, `error`, `denied`, `timeout`; null while it runs.
        duration_ms:
          type: [integer, 'null']
        started_at:
          $ref: '#/components/schemas/Timestamp'
        completed_at:
          $ref: '#/components/schemas/NullableTimestamp'
    Session:
      type: object
      description: A conversation whose messages give later runs their context.
      required: [session_id, title, state, summary, created_at, updated_at]
      properties:
        session_id:
          type: string
          description: UUIDv7.
        title:
          type: [string, 'null']
        state:
          type: string
          enum: [agent, handed_off]
          description: |
            `handed_off` while a person has the conversation: the customer's messages go to them
            (`customer_message` events in the hand-off's run) and the agent does not answer.
        summary:
          type: [string, 'null']
          description: |
            The summary of the turns that no longer fit the history budget
            (`PARLEY_AGENT_CONTEXT_TOKENS`): written by the language model when one is
            configured, else the key sentences. It replaces those turns in the model's prompt.
        created_at:
          $ref: '#/components/schemas/Timestamp'
        updated_at:
          allOf:
            - $ref: '#/components/schemas/Timestamp'
          description: Moves forward each time a message is added.
      example:
        session_id: 019b2f6f-2a3b-7c4d-8e5f-606162636465
        title: Key rotation
        state: agent
        summary: null
        created_at: '2026-01-31T08:59:00.000Z'
        updated_at: '2026-01-31T08:59:00.000Z'
    CreateSessionRequest:
      type: object
      additionalProperties: false
      properties:
        title:
          type: string
          description: Optional; at most 200 characters, otherwise 400 `invalid_title`.
    SessionMessage:
      type: object
      required: [message_id, session_id, workflow_id, role, content, created_at]
      properties:
        message_id:
          type: string
          description: UUIDv7; messages sort by id in time order.
        session_id:
          type: string
        workflow_id:
          type: [string, 'null']
          description: The run the message belongs to.
        role:
          type: string
          enum: [user, assistant, staff]
          description: '`staff`: a person''s reply during a hand-off.'
        content:
          type: string
        created_at:
          $ref: '#/components/schemas/Timestamp'
    Handoff:
      type: object
      description: A conversation handed to people. Every field is always present; those without a value are null.
      required: [handoff_id, session_id, workflow_id, state, trigger, reason, summary, claimed_by, claimed_at,
                 returned_by, returned_at, note, created_at, updated_at]
      properties:
        handoff_id:
          type: string
        session_id:
          type: [string, 'null']
        workflow_id:
          type: string
          description: The paused run (`WAITING_HUMAN`) whose event stream carries the hand-off.
        state:
          type: string
          enum: [open, claimed, returned]
        trigger:
          type: string
          description: '`escalate_to_human` (the model asked), or the rule: `customer_request`, `frustration`, `legal`, `no_relevant_results`.'
        reason:
          type: string
        summary:
          type: [string, 'null']
          description: For staff; the model's summary, or the customer's last messages.
        claimed_by:
          type: [string, 'null']
        claimed_at:
          oneOf:
            - $ref: '#/components/schemas/Timestamp'
            - type: 'null'
        returned_by:
          type: [string, 'null']
        returned_at:
          oneOf:
            - $ref: '#/components/schemas/Timestamp'
            - type: 'null'
        note:
          type: [string, 'null']
        created_at:
          $ref: '#/components/schemas/Timestamp'
        updated_at:
          $ref: '#/components/schemas/Timestamp'
    HandoffConversation:
      allOf:
        - $ref: '#/components/schemas/Handoff'
        - type: object
          required: [session, messages, runs]
          properties:
            session:
              oneOf:
                - $ref: '#/components/schemas/Session'
                - type: 'null'
            messages:
              type: array
              items:
                $ref: '#/components/schemas/SessionMessage'
            runs:
              type: array
              description: The session's runs, oldest first, each with its `events`.
              items:
                allOf:
                  - $ref: '#/components/schemas/Workflow'
                  - type: object
                    required: [events]
                    properties:
                      events:
                        type: array
                        items:
                          $ref: '#/components/schemas/WorkflowEvent'
    HandoffReplyRequest:
      type: object
      additionalProperties: false
      required: [text]
      properties:
        text:
          type: string
          description: The reply; trimmed, not empty, at most `PARLEY_MAX_MESSAGE_CHARS` characters.
    HandBackRequest:
      type: object
      additionalProperties: false
      properties:
        note:
          type: [string, 'null']
          description: For the agent (not shown to the customer); at most 2000 characters.
    SessionMessagePage:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/SessionMessage'
        next_cursor:
          type: [string, 'null']
          description: Pass as `after` for the next page; null when there is none.
    PostSessionMessageRequest:
      type: object
      additionalProperties: false
      properties:
        content:
          type: string
          description: |
            The user's message; the same limits as `message` on `POST /v1/chat`. Sending
            neither `content` nor `message` answers 400 `empty_message`.
        message:
          type: string
          description: Used when `content` is absent.
    ToolPolicyMode:
      type: string
      enum: [auto, require_approval, disabled]
      description: |
        auto: the agent calls the tool without asking. require_approval: each call waits for
        an admin or operator to approve it. disabled: the tool is not offered to the model,
        and a call to it anyway ends with `tool_end` status `denied`. Without a tenant
        policy, tools with side effects default to require_approval and the others to auto.
    Tool:
      type: object
      required: [name, description, has_side_effects, mode, input_schema]
      properties:
        name:
          type: string
        description:
          type: string
        has_side_effects:
          type: boolean
          description: The tool changes data or reaches outside Parley.
        mode:
          $ref: '#/components/schemas/ToolPolicyMode'
        input_schema:
          type: object
          description: JSON Schema of the tool's input, as given to the model.
      example:
        name: revoke_api_key
        description: Revoke an API key by its id, so it stops working at once. Use list_api_keys to find the id.
        has_side_effects: true
        mode: require_approval
        input_schema:
          type: object
          properties:
            key_id:
              type: string
              minLength: 1
          required: [key_id]
          additionalProperties: false
    ToolList:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/Tool'
        next_cursor:
          type: 'null'
          description: Always null; the list is not paginated.
    SetToolPolicyRequest:
      type: object
      additionalProperties: false
      required: [mode]
      properties:
        mode:
          $ref: '#/components/schemas/ToolPolicyMode'
    SendMessageRequest:
      type: object
      additionalProperties: false
      description: |
        Exactly one of `text` and `template` (with `channel: auto`: `text` or `templates`); both
        or neither answers 400 `invalid_content`.
      required: [channel]
      properties:
        channel:
          type: string
          enum: [email, sms, auto]
          description: |
            `email` or `sms` (then `to` is required), or `auto` to notify a customer on the channel
            that suits them (a `notify_customer` job): their preferred channel (`prefer`; SMS when
            they have a phone) when it has an address and consent allows, otherwise the other. An
            SMS then carries the email as its fallback. The answer's `channel_reason` says why.
            Nothing allowed: 409 `no_channel_allowed`. Any other value: 400 `invalid_channel`.
        email:
          type: string
          description: '`auto` only: the customer''s email address.'
        phone:
          type: string
          description: '`auto` only: the customer''s phone number. One of `email` and `phone` is required (400 `missing_recipient`).'
        prefer:
          type: string
          enum: [email, sms]
          description: '`auto` only: the customer''s preferred channel.'
        templates:
          type: object
          description: |
            `auto` only, instead of `text`: a template name per channel, e.g.
            `{"sms": "pickup_sms", "email": "pickup_email"}`; the chosen channel must have one
            (400 `missing_template`).
          additionalProperties: {type: string}
        to:
          type: string
          description: |
            An email address or a phone number with its country code; the rules are on
            `POST /v1/messages`. Invalid: 400 `invalid_email` or `invalid_phone`.
        subject:
          type: string
          description: |
            Email: required with `text`, non-empty and on one line, otherwise 400
            `invalid_subject`; ignored with `template` (the template's subject is used). SMS:
            optional; stored and returned but not sent.
        text:
          type: string
          description: |
            The message body, stored as sent. Blank (empty or only whitespace) answers 400
            `empty_message`. SMS: at most 1,600 characters, otherwise 400 `message_too_long`.
        html:
          type: string
          description: |
            Email only, with `text`: an HTML alternative, sent as multipart/alternative with the
            text (otherwise 400 `invalid_content`). With `template`, the template's HTML is used.
        template:
          type: string
          description: |
            Instead of `text`: the name of a template for this channel, rendered with
            `variables` (see `POST /v1/messages`). Unknown: 404 `template_not_found`; for the
            other channel: 400 `template_channel_mismatch`.
        variables:
          allOf:
            - $ref: '#/components/schemas/TemplateVariables'
          description: |
            With `template`: the values to render it with. Missing, null or blank required
            variables answer 400 `missing_variables`, naming them all.
        send_at:
          type: string
          format: date-time
          description: |
            Optional; when to send (ISO 8601, fractional seconds optional). More than 60 s in
            the past answers 400 `send_at_in_past`. Inside the tenant's quiet hours the
            message is deferred to their end.
        purpose:
          type: string
          enum: [transactional, marketing]
          default: transactional
          description: |
            Optional; why the message is sent. Any other value answers 400 `invalid_purpose`.
            A marketing message needs the recipient's opt-in on the channel (409
            `marketing_consent_missing`). With `template`, the template's purpose is used
            instead.
        idempotency_key:
          type: string
          minLength: 1
          maxLength: 200
          description: |
            Optional; ignored when the `Idempotency-Key` header is sent. 1 to 200 characters on
            one line, otherwise 400 `invalid_idempotency_key`.
        fallback_email:
          type: string
          description: |
            SMS only (otherwise 400 `invalid_fallback`): when the SMS fails for good (a permanent
            provider error or no attempts left), the same text is queued once as an email to this
            address, if the address may receive it. The email's `fallback_of` names the SMS.
        fallback_subject:
          type: string
          description: The subject of the fallback email.
    MessageStatus:
      type: string
      enum: [queued, sending, sent, failed, cancelled]
      description: |
        A message is `queued` until its job delivers it (`sent`), gives up (`failed`) or is
        cancelled before it runs (`cancelled`); it stays `queued` while a retry is pending.
        `sending`: handed to an external provider (SMTP, SendGrid, Resend, Twilio) and the
        outcome not yet recorded.
    JobState:
      type: string
      enum: [queued, running, succeeded, retrying, dead, cancelled]
      description: |
        queued: waiting for `run_at`. running: a worker is on it. retrying: an attempt failed
        and the next is due at `run_at`. succeeded, dead (failed for good) and cancelled
        (before it ran) are final.
    Message:
      type: object
      description: |
        An email or SMS and its delivery. Every field is always present; those without a value
        are null. `job` is only in `GET /v1/messages/{id}`.
      required: [message_id, channel, to, subject, text, html, status, provider_message_id, delivery_status,
                 delivery_status_at, idempotency_key, send_at, provider, error, created_at, sent_at, job_id, purpose,
                 content_source, personalization, waiting_reason, not_before, waiting_detail]
      properties:
        message_id:
          type: string
          description: UUIDv7.
        channel:
          type: string
          enum: [email, sms]
        to:
          type: string
          description: The recipient, normalised.
        subject:
          type: [string, 'null']
        text:
          type: string
        html:
          type: [string, 'null']
          description: Email's HTML alternative; null for plain-text email and SMS.
        status:
          $ref: '#/components/schemas/MessageStatus'
        provider_message_id:
          type: [string, 'null']
          description: The provider's id for the message (SMTP Message-ID, SendGrid, Resend or Twilio id).
        delivery_status:
          type: [string, 'null']
          enum: [queued, sending, sent, delayed, delivered, undelivered, failed, bounced, dropped, complained, null]
          description: |
            The furthest status the provider reported through its webhook; null until one
            arrives. Statuses only move forward (`queued`, `sending`, `sent`, `delayed`,
            `delivered`, then `undelivered`/`failed`/`bounced`/`dropped`, then `complained`).
        delivery_status_at:
          type: [string, 'null']
          format: date-time
          description: When Parley received that status.
        idempotency_key:
          type: string
          description: The key given, or the one the server generated.
        send_at:
          allOf:
            - $ref: '#/components/schemas/Timestamp'
          description: |
            When the message is due: the requested time (or the time it was queued), deferred
            to the end of the tenant's quiet hours when it falls inside them.
        provider:
          type: [string, 'null']
          description: The channel that delivered it (`outbox`); null until sent.
        error:
          type: [string, 'null']
          description: The last delivery failure; null once sent.
        created_at:
          $ref: '#/components/schemas/Timestamp'
        sent_at:
          $ref: '#/components/schemas/NullableTimestamp'
        job_id:
          type: string
          description: The send job's id.
        purpose:
          type: string
          enum: [transactional, marketing]
          description: |
            Why it is sent: the template's purpose for a message from a template, otherwise the
            request's (`transactional` when it gave none).
        content_source:
          type: [string, 'null']
          enum: [template, ai, null]
          description: |
            For a message from a template: `template` when its plain rendering was sent, `ai`
            when the model's checked rewrite was. Null when the request gave the text.
        personalization:
          $ref: '#/components/schemas/PersonalizationOutcome'
        waiting_reason:
          $ref: '#/components/schemas/WaitingReason'
        not_before:
          type: [string, 'null']
          format: date-time
          description: With `quiet_hours`, `scheduled`, `retrying` and `no_consent`, when it is due next; otherwise null.
        waiting_detail:
          type: [string, 'null']
          description: With `no_consent`, the consent refusal in words; otherwise null.
        job:
          type: object
          description: The send job.
          required: [state, attempts, max_attempts, last_error, run_at]
          properties:
            state:
              $ref: '#/components/schemas/JobState'
            attempts:
              type: integer
              description: Attempts counted so far; back to 0 when the job is retried by hand.
            max_attempts:
              type: integer
              description: '`MAX_RETRIES` + 1 when the message was queued.'
            last_error:
              type: [string, 'null']
            run_at:
              allOf:
                - $ref: '#/components/schemas/Timestamp'
              description: When the job is due; after a failed attempt, when the retry is due.
      example:
        message_id: 019b2f72-3a4b-7c5d-8e6f-707172737475
        channel: email
        to: Ada.Lovelace@example.com
        subject: Your invoice
        text: Your January invoice is ready.
        status: sent
        idempotency_key: invoice-2026-01-ada
        send_at: '2026-01-31T09:00:00.000Z'
        provider: outbox
        error: null
        created_at: '2026-01-31T09:00:00.000Z'
        sent_at: '2026-01-31T09:00:00.021Z'
        job_id: 019b2f72-3a4c-7d5e-8f60-717273747576
        purpose: transactional
        content_source: null
        personalization: null
        job:
          state: succeeded
          attempts: 1
          max_attempts: 4
          last_error: null
          run_at: '2026-01-31T09:00:00.000Z'
    OutboxEntry:
      type: object
      description: A message as the outbox channel delivered it. Every field is always present.
      required: [outbox_id, message_id, channel, to, content, created_at]
      properties:
        outbox_id:
          type: string
          description: UUIDv7.
        message_id:
          type: string
        channel:
          type: string
          enum: [email, sms]
        to:
          type: string
        content:
          type: string
          description: |
            SMS: the text. Email: the RFC 5322 message with CRLF line endings: the headers
            `Message-ID` (`<message_id@parley>`), `Date` (delivery time, UTC), `To`, `Subject`
            (RFC 2047 base64 when not ASCII), `MIME-Version`, `Content-Type: text/plain;
            charset=utf-8` and `Content-Transfer-Encoding: 8bit`, a blank line, then the text.
        created_at:
          allOf:
            - $ref: '#/components/schemas/Timestamp'
          description: When it was delivered.
      example:
        outbox_id: 019b2f72-3a61-7e00-8a11-223344556677
        message_id: 019b2f72-3a4b-7c5d-8e6f-707172737475
        channel: email
        to: Ada.Lovelace@example.com
        content: "Message-ID: <019b2f72-3a4b-7c5d-8e6f-707172737475@parley>\r\nDate: Sat, 31 Jan 2026 09:00:00 +0000\r\nTo: Ada.Lovelace@example.com\r\nSubject: Your invoice\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nYour January invoice is ready."
        created_at: '2026-01-31T09:00:00.021Z'
    JobView:
      type: object
      required: [job_id, type, state, priority, run_at, attempts, max_attempts, last_error, created_at, updated_at, finished_at,
                 waiting_reason, not_before, waiting_detail]
      properties:
        job_id: {type: string}
        type:
          type: string
          pattern: '^[a-z][a-z0-9_.]*$'
          description: >-
            The job's kind: `send_email` and `send_sms` (messages), `core.flow_step` (a flow
            execution's next step), or a pack's own, named after the pack (`support.ingest`,
            `support.reembed`).
        state: {$ref: '#/components/schemas/JobState'}
        priority: {type: integer, description: Lower runs first.}
        run_at: {type: string, format: date-time, description: When the job is next due.}
        attempts: {type: integer}
        max_attempts: {type: integer, description: MAX_RETRIES + 1.}
        last_error: {type: [string, 'null']}
        created_at: {type: string, format: date-time}
        updated_at: {type: string, format: date-time}
        finished_at: {type: [string, 'null'], format: date-time}
        waiting_reason: {$ref: '#/components/schemas/WaitingReason'}
        not_before: {type: [string, 'null'], format: date-time, description: 'When it is due next, for quiet_hours, scheduled and retrying.'}
        waiting_detail: {type: [string, 'null'], description: Always null for jobs.}
    WaitingReason:
      type: [string, 'null']
      enum: [quiet_hours, scheduled, retrying, due, sending, no_consent, null]
      description: |
        Why a message or job has not gone out yet; null once it has, or has failed or been
        cancelled. `quiet_hours`: held until the tenant's quiet hours end (`not_before`, shown in
        the tenant's zone); `scheduled`: its `send_at` is later; `retrying`: an attempt failed and
        the next is at `not_before` (the job has `attempts`, `max_attempts` and `last_error`);
        `due`: waiting for a free worker; `sending`: being delivered; `no_consent` (messages only):
        the recipient is suppressed or has not opted in, so it fails when due unless that changes.
        A job due exactly when quiet hours end is reported as `quiet_hours`.
    JobPage:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items: {$ref: '#/components/schemas/JobView'}
        next_cursor: {type: [string, 'null']}
    OutboxPage:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/OutboxEntry'
        next_cursor:
          type: [string, 'null']
          description: Pass as `before` for the next page; null when there is none.
    ChannelView:
      type: object
      required: [channel, provider, from, source, secrets, updated_at]
      properties:
        channel: {type: string, enum: [email, sms]}
        provider: {type: string}
        from: {type: [string, 'null']}
        source: {type: string, enum: [tenant, installation]}
        secrets:
          type: object
          additionalProperties: {type: string}
          description: 'Which secrets are set, redacted: e.g. `{"api_key": "••••mnop"}`.'
        updated_at: {type: [string, 'null'], format: date-time}
    Schedule:
      description: |
        When a task runs. Wall-clock times (`HH:MM`, 24-hour) are in the tenant's time zone and stay
        on the wall clock across daylight-saving changes; a monthly day past the end of a short
        month runs on its last day.
      oneOf:
        - type: object
          required: [kind, seconds]
          properties:
            kind: {const: every}
            seconds: {type: integer, minimum: 1}
        - type: object
          required: [kind, at]
          properties:
            kind: {const: daily}
            at: {type: string, pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', example: '09:00'}
        - type: object
          required: [kind, weekday, at]
          properties:
            kind: {const: weekly}
            weekday: {type: integer, minimum: 1, maximum: 7, description: 1 = Sunday … 7 = Saturday.}
            at: {type: string, pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$'}
        - type: object
          required: [kind, day, at]
          properties:
            kind: {const: monthly}
            day: {type: integer, minimum: 1, maximum: 31}
            at: {type: string, pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$'}
    ScheduledTask:
      type: object
      required: [name, trigger, summary, schedule, enabled, last_run_at, next_run_at, runs]
      properties:
        name: {type: string}
        trigger: {type: string}
        summary: {type: [string, 'null'], description: What the trigger does; null when its pack is not installed.}
        schedule: {$ref: '#/components/schemas/Schedule'}
        enabled: {type: boolean}
        last_run_at: {type: [string, 'null'], format: date-time}
        next_run_at: {type: string, format: date-time}
        runs: {type: integer, description: Occurrences fired so far.}
    TemplateVariables:
      type: object
      additionalProperties:
        type: [string, number, boolean, array, object, 'null']
      description: |
        The values a template is rendered with (Mustache), by name. Values may be strings,
        numbers, booleans, arrays, objects or null. Integral numbers render without a
        fractional part (`3`, not `3.0`). Null and the empty string render as nothing and are
        false in sections (`{{#nickname}}...{{/nickname}}` is skipped); arrays repeat a
        section once per item; objects open a scope in a section and can be read with dots
        (`{{vehicle.model}}`). Variables the template does not use are ignored.
    Template:
      type: object
      description: A message template. Every field is always present; those without a value are null.
      required: [name, channel, purpose, subject, text, html, required_variables, exempt_from_quiet_hours,
                 personalize, personalization_prompt, version, overridden, variables]
      properties:
        name:
          type: string
          pattern: '^[a-z0-9_-]+(\.[a-z0-9_-]+)*$'
          minLength: 1
          maxLength: 64
        channel:
          type: string
          enum: [email, sms]
        purpose:
          type: string
          enum: [transactional, marketing]
        subject:
          type: [string, 'null']
          description: Mustache source of the subject; email only (null for SMS).
        text:
          type: string
          description: Mustache source of the SMS body or of the email's plain-text part.
        html:
          type: [string, 'null']
          description: Mustache source of the email's HTML part; null when there is none (always for SMS).
        required_variables:
          type: array
          items:
            type: string
          description: Variables that must be present and not null or blank when the template is rendered.
        exempt_from_quiet_hours:
          type: boolean
          description: Messages from this template are not deferred to the end of quiet hours when queued.
        personalize:
          type: boolean
          description: Messages from this template are rewritten for the recipient by the model (see `POST /v1/messages`).
        personalization_prompt:
          type: [string, 'null']
          description: Guidance for that rewrite (tone, what to emphasise); null when none.
        version:
          type: integer
          minimum: 1
          description: |
            The version in use: 1 for a global default, otherwise the tenant's newest version
            (see `PUT /v1/templates/{name}`).
        overridden:
          type: boolean
          description: True when the tenant's own version is in use, false for a global default.
        deleted_at:
          allOf:
            - $ref: '#/components/schemas/NullableTimestamp'
          description: Set on a deleted version of the tenant's own (listed with `include_deleted=true`); null otherwise.
        variables:
          type: array
          items:
            type: string
          description: |
            The top-level variable names the template refers to, in order of first appearance
            across subject, text and html (best effort): section names are included, a dotted
            name gives its first part, and names inside sections are included as well.
      example:
        name: appointment_reminder
        channel: sms
        purpose: transactional
        subject: null
        text: 'Hi {{first_name}}, {{business_name}} here. Reminder: your {{#service}}{{service}} {{/service}}appointment is {{appointment_date}} at {{appointment_time}}.{{#location}} Where: {{location}}.{{/location}} Reply C to confirm{{#business_phone}} or call {{business_phone}} to reschedule{{/business_phone}}.'
        html: null
        required_variables: [first_name, business_name, appointment_date, appointment_time]
        exempt_from_quiet_hours: false
        personalize: false
        personalization_prompt: null
        version: 1
        overridden: false
        variables: [first_name, business_name, service, appointment_date, appointment_time, location, business_phone]
    TemplateList:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/Template'
        next_cursor:
          type: 'null'
          description: Always null; the list is not paginated.
    TemplateDefinition:
      type: object
      additionalProperties: false
      required: [channel, purpose, text]
      description: |
        A template as saved by `PUT /v1/templates/{name}` (its name is the path's). `subject`,
        `text` and `html` are Mustache sources; partials (`{{> name}}`) and empty tags are not
        supported (400 `invalid_template`), and a part that does not compile answers 400
        `template_syntax_error`. Each part is at most 100,000 bytes of UTF-8. Broken rules
        answer 400 `invalid_template` unless said otherwise.
      properties:
        channel:
          type: string
          enum: [email, sms]
        purpose:
          type: string
          enum: [transactional, marketing]
          description: Why messages from it are sent.
        subject:
          type: string
          description: |
            Email: required and not blank; rendered on one line. SMS: not allowed (omit it).
        text:
          type: string
          description: The SMS body or the email's plain-text part. Not blank.
        html:
          type: string
          description: 'Email only, optional; not blank when given. SMS: not allowed (omit it).'
        required_variables:
          type: array
          items:
            type: string
            pattern: '^[A-Za-z_][A-Za-z0-9_-]{0,63}$'
          default: []
          description: |
            Variables that must be present and not null or blank when rendering. Plain names
            (a letter or `_`, then letters, digits, `_` or `-`; at most 64 characters), each
            listed once.
        exempt_from_quiet_hours:
          type: boolean
          default: false
          description: |
            Queue messages from this template without deferring them to the end of the
            tenant's quiet hours. Not allowed for `marketing` templates.
        personalize:
          type: boolean
          default: false
          description: |
            Rewrite each message from this version for its recipient with the configured model,
            falling back to the plain rendering (see `POST /v1/messages`). Without a configured
            model, or with `PARLEY_PERSONALIZE=off`, the plain rendering is always sent.
        personalization_prompt:
          type: string
          maxLength: 2000
          description: |
            Optional guidance for the rewrite (tone, what to emphasise), at most 2,000
            characters, not blank. It cannot relax the checks: facts are kept, none added.
    PreviewTemplateRequest:
      type: object
      additionalProperties: false
      properties:
        variables:
          allOf:
            - $ref: '#/components/schemas/TemplateVariables'
          description: Optional; none when omitted.
        template:
          allOf:
            - $ref: '#/components/schemas/TemplateDefinition'
          description: Optional; a draft to render instead of the stored template. Not saved.
        try_personalization:
          type: boolean
          default: false
          description: Also rewrite the rendering with the model (one call); the answer's `personalized`.
    PersonalizationOutcome:
      type: [string, 'null']
      enum: [ai, fallback_timeout, fallback_error, fallback_validation, fallback_unavailable, null]
      description: |
        How personalisation ended: `ai` (the rewrite was used); `fallback_timeout` (no answer
        within `PARLEY_PERSONALIZE_TIMEOUT_MS`); `fallback_error` (the model failed, or its
        answer was cut off); `fallback_validation` (empty, too long, or a fact lost or added);
        `fallback_unavailable` (no model to ask). Null when it was not attempted (the template
        does not ask for it, no model is configured, or a replay).
    RenderedTemplate:
      type: object
      description: A rendered template. Every field is always present.
      required: [subject, text, html, personalize, personalization_prompt, personalized]
      properties:
        subject:
          type: [string, 'null']
          description: The rendered subject, on one line; null for SMS.
        text:
          type: string
          description: The rendered SMS body or plain-text part.
        html:
          type: [string, 'null']
          description: The rendered HTML part; null for SMS and for an email template without one.
        personalize:
          type: boolean
          description: The rendered template's `personalize`.
        personalization_prompt:
          type: [string, 'null']
        personalized:
          type: [object, 'null']
          description: With `try_personalization`, what a message would get; otherwise null.
          required: [text, html, content_source, personalization]
          properties:
            text:
              type: string
            html:
              type: [string, 'null']
            content_source:
              type: string
              enum: [template, ai]
            personalization:
              $ref: '#/components/schemas/PersonalizationOutcome'
    ConsentStatus:
      type: string
      enum: [opted_in, opted_out, suppressed]
      description: |
        opted_in: agreed to receive marketing on this channel (transactional messages need no
        opt-in). opted_out: asked to receive nothing more on this channel (a STOP reply, an
        unsubscribe); nothing is sent. suppressed: the channel cannot reach them (a permanent
        delivery failure such as an invalid number or a hard bounce); nothing is sent.
    Consent:
      type: object
      description: |
        A recipient's consent on one channel, or one change to it. Every field is always
        present; `reason` is null when none was given.
      required: [channel, recipient, status, source, reason, updated_at]
      properties:
        channel:
          type: string
          enum: [email, sms]
        recipient:
          type: string
          description: |
            Normalised as `POST /v1/messages` normalises `to`: E.164 for SMS (e.g.
            `+14155550100`), and for email the address with its domain lowercased.
        status:
          $ref: '#/components/schemas/ConsentStatus'
        source:
          type: string
          description: |
            Who or what made the change: `api_key:<key id>` for `PUT
            /v1/consent/{channel}/{recipient}`, `inbound_sms` for a keyword reply through
            `POST /v1/inbound/sms`, `delivery:<provider>` for a suppression after a permanent
            delivery failure (the delivering channel's name, as in a message's `provider`).
          examples: [inbound_sms, 'api_key:019b2f6e-8a1c-7d3e-9f40-5b6c7d8e9f01', 'delivery:outbox']
        reason:
          type: [string, 'null']
          description: |
            The `reason` given to the PUT, `replied <KEYWORD>` for an inbound keyword, or the
            provider's failure for a suppression.
        updated_at:
          allOf:
            - $ref: '#/components/schemas/Timestamp'
          description: When this change was made.
      example:
        channel: sms
        recipient: '+14155550100'
        status: opted_out
        source: inbound_sms
        reason: replied STOP
        updated_at: '2026-01-31T09:05:00.000Z'
    RecipientConsent:
      type: object
      required: [current, history]
      properties:
        current:
          description: The consent now; null when nothing has been recorded.
          oneOf:
            - $ref: '#/components/schemas/Consent'
            - type: 'null'
        history:
          type: array
          description: Every change, oldest first; the last one is `current`.
          items:
            $ref: '#/components/schemas/Consent'
    SetConsentRequest:
      type: object
      additionalProperties: false
      required: [status]
      properties:
        status:
          allOf:
            - $ref: '#/components/schemas/ConsentStatus'
          description: Any other value answers 400 `invalid_status`.
        reason:
          type: string
          description: Optional; why, e.g. where an opt-in was collected. Stored with the change.
    InboundSMSRequest:
      type: object
      additionalProperties: false
      required: [from, body]
      properties:
        from:
          type: string
          pattern: '^\s*(\+|00)[0-9][0-9 ().-]*$'
          description: |
            The sender's number with its country code, as the provider reports it; normalised as
            an SMS `to` of `POST /v1/messages`. Invalid: 400 `invalid_phone`.
        body:
          type: string
          description: The text the sender wrote.
    InboundSMSResult:
      type: object
      required: [action]
      properties:
        action:
          type: string
          enum: [opted_out, opted_in, help, none]
          description: |
            opted_out or opted_in: the sender's SMS consent was changed. help: the sender asked
            for help (nothing recorded). none: not a keyword (nothing recorded).
    LoginRequest:
      type: object
      required: [email, password]
      properties:
        email:
          type: string
        password:
          type: string
        tenant:
          type: string
          description: The tenant (id or slug) the access token is for; default the account's first.
    RefreshTokenRequest:
      type: object
      required: [refresh_token]
      properties:
        refresh_token:
          type: string
    AcceptInvitationRequest:
      type: object
      required: [token, password]
      properties:
        token:
          type: string
        password:
          type: string
        name:
          type: string
    TokenGrant:
      type: object
      required: [access_token, refresh_token, token_type, expires_in, tenant_id, tenants, email]
      properties:
        access_token:
          type: string
          description: 'A JWT (HS256, with `kid`); send it as `Authorization: Bearer <token>`.'
        refresh_token:
          type: string
          description: '`prr_...`; single use, for `POST /v1/auth/refresh`.'
        token_type:
          type: string
          const: Bearer
        expires_in:
          type: integer
          description: Seconds the access token is valid.
        tenant_id:
          type: string
        email:
          type: string
          description: The account's email (lower-cased).
        tenants:
          type: array
          description: The tenants `X-Tenant` may select.
          items:
            type: object
            required: [id, slug, name, role]
            properties:
              id:
                type: string
              slug:
                type: string
              name:
                type: string
              role:
                type: string
                enum: [admin, operator, viewer]
    User:
      type: object
      required: [id, email, role, installation_admin, created_at]
      properties:
        id:
          type: string
        email:
          type: string
        name:
          type: string
        role:
          type: string
          enum: [admin, operator, viewer]
        installation_admin:
          type: boolean
        created_at:
          type: string
          format: date-time
        deleted_at:
          type: string
          format: date-time
          description: When the member was removed from this tenant.
    UserList:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/User'
        next_cursor:
          type: 'null'
    Invitation:
      type: object
      required: [id, email, role, expires_at]
      properties:
        id:
          type: string
        email:
          type: string
        role:
          type: string
        expires_at:
          type: string
          format: date-time
    AdminTenant:
      type: object
      required: [id, name, slug, time_zone, created_at]
      properties:
        id:
          type: string
        name:
          type: string
        slug:
          type: string
        time_zone:
          type: string
        created_at:
          type: string
          format: date-time
        suspended_at:
          type: string
          format: date-time
        deleted_at:
          type: string
          format: date-time
    AdminTenantList:
      type: object
      required: [data, next_cursor]
      properties:
        data:
          type: array
          items:
            $ref: '#/components/schemas/AdminTenant'
        next_cursor:
          type: 'null'
  responses:
    BadRequest:
      description: |
        The request is malformed. Codes: `invalid_json` (body empty, not JSON, a field missing
        or of the wrong type), `unknown_field` (a body field the operation does not define),
        `unknown_parameter` (a query parameter the operation does not define), `invalid_text`
        (a NUL character), `invalid_path` (a bad percent sequence in the path), `invalid_date`
        (a timestamp outside 2000-2099), `invalid_request`, `upgrade_required` (`/ws` without
        a WebSocket upgrade), and per route `invalid_name`, `invalid_role`,
        `invalid_expires_at`, `invalid_query`, `empty_message`, `message_too_long`,
        `invalid_workflow_id`, `invalid_session_id`, `invalid_approval_id`,
        `invalid_last_event_id`, `invalid_decision`, `invalid_title`, `invalid_mode`,
        `invalid_channel`, `invalid_subject`, `invalid_email`, `invalid_phone`,
        `invalid_idempotency_key`, `send_at_in_past`, `invalid_content`,
        `template_channel_mismatch`, `invalid_template_name`, `invalid_template`,
        `template_syntax_error`, `missing_variables`, `invalid_purpose`, `invalid_status`,
        `invalid_webhook`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    Unauthorized:
      description: |
        No usable API key or access token. Codes: `missing_api_key`, `invalid_authorization` (not
        `Bearer <key>`), `invalid_api_key`, `api_key_revoked`, `api_key_expired`; for access
        tokens `invalid_token` (malformed, tampered, unknown `kid`, wrong issuer or audience),
        `token_expired`, `account_removed`; on sign-in `invalid_credentials`; on refresh
        `invalid_refresh_token`, `refresh_token_reused`, `refresh_token_revoked`,
        `refresh_token_expired`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
        WWW-Authenticate:
          $ref: '#/components/headers/WWW-Authenticate'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    Forbidden:
      description: The key's role may not do this. Code `forbidden`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    NotFound:
      description: |
        Not found in the caller's tenant. Codes: `api_key_not_found`, `workflow_not_found`,
        `session_not_found`, `approval_not_found`, `tool_not_found`, `message_not_found`,
        `job_not_found`, `template_not_found`; on the webhooks `tenant_not_found` and
        `webhook_not_configured`; `route_not_found` for a path the server does not have.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    MethodNotAllowed:
      description: The path exists but not with this method. Code `method_not_allowed`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
        Allow:
          $ref: '#/components/headers/Allow'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    TooManyRequests:
      description: |
        `rate_limited`: a token bucket is empty (the API key's or user's, the tenant's, sign-in's,
        or on the customer chat page the visitor's or the address's); the message names which.
        `Retry-After` says how many seconds to wait; the `RateLimit-*` headers describe the
        bucket that refused (docs/rate-limits.md). `login_throttled`: too many failed sign-ins
        for the account or the address (with `Retry-After` only).
      headers:
        Retry-After:
          $ref: '#/components/headers/Retry-After'
        RateLimit-Limit:
          $ref: '#/components/headers/RateLimit-Limit'
        RateLimit-Remaining:
          $ref: '#/components/headers/RateLimit-Remaining'
        RateLimit-Reset:
          $ref: '#/components/headers/RateLimit-Reset'
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    PayloadTooLarge:
      description: The body is larger than PARLEY_MAX_BODY_BYTES. Code `payload_too_large`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    InvalidSignature:
      description: |
        `invalid_signature`: a signature header is missing or malformed, the signature does not
        match the request under the tenant's secret, or the signed timestamp is more than 5
        minutes from the server's time. Nothing was applied.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    EmptyTwiML:
      description: Applied (or ignored); an empty TwiML document.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        text/xml:
          example: '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    WebhookOutcome:
      description: |
        Applied. `received` counts the events about delivery or consent that named a message
        id; `applied` those that changed something (unknown ids, other tenants' messages,
        repeats and statuses behind the current one change nothing).
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            type: object
            required: [received, applied]
            properties:
              received:
                type: integer
              applied:
                type: integer
          example:
            received: 3
            applied: 2
    UnsupportedMediaType:
      description: The body is not sent as `application/json` (or `*+json`). Code `unsupported_media_type`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    InternalError:
      description: An unexpected failure, logged with the request id. Code `internal_error`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    DatabaseUnavailable:
      description: The database cannot be reached or stays busy past its timeout; retry shortly. Code `database_unavailable`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    Conflict:
      description: |
        The request conflicts with the resource's current state. Codes: `workflow_finished`,
        `approval_already_resolved`, `workflow_not_waiting`, `idempotency_key_reused`,
        `job_state_conflict`, `recipient_opted_out`, `recipient_suppressed`,
        `marketing_consent_missing`.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Error'
    EventStream:
      description: |
        A Server-Sent Events stream of the run's events. Each event is written as

            id: <seq>
            event: <type>
            data: <the event as JSON, on one line>

        followed by a blank line. `heartbeat` events have no `id:` line. The stream ends after
        the run's terminal event, or, when the server shuts down, after a `reconnect` event
        (no `id:` line, preceded by `retry: <ms>`): resume with `Last-Event-ID`. Response headers include `Cache-Control: no-cache` and
        `X-Accel-Buffering: no`. Event types and fields: docs/events.md.
      headers:
        X-Request-ID:
          $ref: '#/components/headers/X-Request-ID'
      content:
        text/event-stream:
          schema:
            $ref: '#/components/schemas/WorkflowServerSentEvent'
          example: |
            id: 1
            event: workflow_started
            data: {"agent_type":"ParleyAgent","initial_prompt":"show recent runs","seq":1,"session_id":null,"timestamp":"2026-01-31T09:00:00.000Z","type":"workflow_started","workflow_id":"019b2f70-1c2d-7e3f-8a4b-5c6d7e8f9a0b"}

            id: 2
            event: agent_thinking
            data: {"seq":2,"thought":"The user wants recent runs; I will list them.","timestamp":"2026-01-31T09:00:00.004Z","type":"agent_thinking","workflow_id":"019b2f70-1c2d-7e3f-8a4b-5c6d7e8f9a0b"}

            event: heartbeat
            data: {"seq":2,"timestamp":"2026-01-31T09:00:30.004Z","type":"heartbeat","workflow_id":"019b2f70-1c2d-7e3f-8a4b-5c6d7e8f9a0b"}
"""#
}
