import Foundation
import Hummingbird
import Logging
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyHTTP
import ParleyStorage

/// A business domain plugged into Parley: everything it contributes, in one value. The server,
/// the worker and the CLI loop over the installed packs (`InstalledPacks.all` in ParleyApp, the
/// one place they are listed); nothing in the core names a pack. docs/packs.md walks through
/// writing one.
public struct DomainPack: Sendable {
    /// Short, lowercase, unique: prefixes the pack's migration ids, templates, triggers and settings.
    public var name: String
    /// Packs whose tables this pack's migrations refer to (their migrations run first).
    public var dependencies: [String]
    /// In ascending id order; applied after the core's and after the packs this one depends on.
    public var migrations: [Migration]
    public var tools: [Tool]
    /// What the offline planner understands for this pack's tools.
    public var intents: [any OfflineIntent]
    /// Global default templates (tenants override them through `/v1/templates`).
    public var templates: [MessageTemplate]
    /// The template holding the pack's rules for the agent (its persona); a tenant edits it like
    /// any template, and the agent's system prompt ends with it.
    public var systemPromptTemplate: String?
    /// The settings the pack reads (documented in docs/configuration.md), and their validation:
    /// called at start-up, so a bad value stops the process with a message naming it.
    public var settings: [PackSetting]
    public var validateSettings: @Sendable (ParleyConfig) throws(ConfigError) -> Void
    /// `parley seed <name>`, `parley bench <name>`, `parley import <name>`.
    public var commands: [PackCommand]
    /// Views the web console shows for this pack (a JavaScript module and its navigation entry).
    public var consoleViews: [ConsoleView]
    /// The pack's part of the OpenAPI document: its `paths:` entries (and `components:`), as YAML.
    public var openAPI: String
    /// The pack's soft-deletable tables and how to purge their rows (and the rows depending on
    /// them) once `PARLEY_RETENTION_DAYS` have passed (docs/soft-delete.md).
    public var purgeTargets: [PurgeTarget]
    /// Binds the pack to this process's dependencies: its triggers, its tools' services and its
    /// routes. Called once per process by `serve` and `worker`.
    public var bind: @Sendable (PackContext) throws -> PackRuntime

    public init(name: String, dependencies: [String] = [], migrations: [Migration] = [], tools: [Tool] = [],
                intents: [any OfflineIntent] = [], templates: [MessageTemplate] = [], systemPromptTemplate: String? = nil,
                settings: [PackSetting] = [], validateSettings: @escaping @Sendable (ParleyConfig) throws(ConfigError) -> Void = { _ in },
                commands: [PackCommand] = [], consoleViews: [ConsoleView] = [], openAPI: String = "",
                purgeTargets: [PurgeTarget] = [],
                bind: @escaping @Sendable (PackContext) throws -> PackRuntime = { _ in PackRuntime() }) {
        self.name = name
        self.dependencies = dependencies
        self.migrations = migrations
        self.tools = tools
        self.intents = intents
        self.templates = templates
        self.systemPromptTemplate = systemPromptTemplate
        self.settings = settings
        self.validateSettings = validateSettings
        self.commands = commands
        self.consoleViews = consoleViews
        self.openAPI = openAPI
        self.purgeTargets = purgeTargets
        self.bind = bind
    }
}

/// What a pack is given when a process binds it: no process-wide globals, only this.
public struct PackContext: Sendable {
    public var store: any Store
    public var clock: any Clock
    public var keyring: Keyring
    /// All resolved settings; `config.sources` holds the layers a pack reads its own settings from.
    public var config: ParleyConfig
    public var logger: Logger
    /// The externally reachable base URL links in messages are built on.
    public var publicBaseURL: String
    /// Delivery attempts per message, as the worker makes them.
    public var maxAttempts: Int
    /// Wakes the communications worker after the pack queued messages outside a request.
    public var wake: @Sendable () -> Void

    public init(store: any Store, clock: any Clock, keyring: Keyring, config: ParleyConfig, logger: Logger,
                publicBaseURL: String, maxAttempts: Int, wake: @escaping @Sendable () -> Void) {
        self.store = store
        self.clock = clock
        self.keyring = keyring
        self.config = config
        self.logger = logger
        self.publicBaseURL = publicBaseURL
        self.maxAttempts = maxAttempts
        self.wake = wake
    }
}

/// What a bound pack contributes to the running process.
public struct PackRuntime: Sendable {
    public typealias RouteGroup = Routes<RouterGroup<ParleyRequestContext>>
    /// Values its tools look up in `ToolContext.services`.
    public var services: [any Sendable]
    /// Recurring jobs the scheduler runs for every tenant.
    public var triggers: [TriggerDefinition]
    /// Routes under `/v1` (the caller is authenticated; handlers check its role).
    public var routes: (@Sendable (RouteGroup) -> Void)?
    /// Routes outside `/v1` that need no API key (a signed link is the credential).
    public var publicRoutes: [PublicRoutes]
    /// What its authenticated routes that change something need from the caller, checked before
    /// the handler reads the body ("POST /v1/cases", .act, "create cases").
    public var routeRules: [RouteRule]
    /// Jobs of the pack's own types (`"<pack>.<what>"`) that the worker runs from the queue.
    public var jobHandlers: [JobHandler]
    /// What `/status` says about the pack (`{"packs": {"<name>": {...}}}`): plain facts an
    /// operator needs, such as a feature running in a reduced mode. Evaluated per request.
    public var status: (@Sendable () async -> [String: String])?

    public init(services: [any Sendable] = [], triggers: [TriggerDefinition] = [], routes: (@Sendable (RouteGroup) -> Void)? = nil,
                publicRoutes: [PublicRoutes] = [], routeRules: [RouteRule] = [], jobHandlers: [JobHandler] = [],
                status: (@Sendable () async -> [String: String])? = nil) {
        self.routeRules = routeRules
        self.jobHandlers = jobHandlers
        self.status = status
        self.services = services
        self.triggers = triggers
        self.routes = routes
        self.publicRoutes = publicRoutes
    }
}

/// Public routes under one path prefix, with their own request-body limit when it differs from
/// `PARLEY_MAX_BODY_BYTES` (uploads are larger than API bodies).
public struct PublicRoutes: Sendable {
    /// The first path segment, without slashes (`upload` serves `/upload/...`).
    public var prefix: String
    public var maxBodyBytes: Int?
    public var register: @Sendable (PackRuntime.RouteGroup) -> Void

    public init(prefix: String, maxBodyBytes: Int? = nil, register: @escaping @Sendable (PackRuntime.RouteGroup) -> Void) {
        self.prefix = prefix
        self.maxBodyBytes = maxBodyBytes
        self.register = register
    }
}

/// One setting a pack reads, for docs/configuration.md and `parley` help.
public struct PackSetting: Sendable, Equatable {
    public var name: String
    public var defaultValue: String
    public var summary: String

    public init(_ name: String, default defaultValue: String, _ summary: String) {
        self.name = name
        self.defaultValue = defaultValue
        self.summary = summary
    }
}

/// A CLI subcommand a pack contributes: `parley <kind> <name> [options]`. The pack parses its own
/// options (e.g. with ArgumentParser's `ParsableArguments.parse`); the CLI opens and migrates the
/// database first.
public struct PackCommand: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case seed, bench
        case importData = "import"
    }
    public var kind: Kind
    public var name: String
    public var summary: String
    /// The options' help text, shown by `parley <kind> --help`.
    public var help: String
    public var run: @Sendable (PackCommandContext) async throws -> Void

    public init(_ kind: Kind, _ name: String, summary: String, help: String = "",
                run: @escaping @Sendable (PackCommandContext) async throws -> Void) {
        self.kind = kind
        self.name = name
        self.summary = summary
        self.help = help
        self.run = run
    }
}

public struct PackCommandContext: Sendable {
    public var store: any Store
    public var clock: any Clock
    public var config: ParleyConfig
    public var logger: Logger
    /// The arguments after `parley <kind> <name>`.
    public var arguments: [String]

    public init(store: any Store, clock: any Clock, config: ParleyConfig, logger: Logger, arguments: [String]) {
        self.store = store
        self.clock = clock
        self.config = config
        self.logger = logger
        self.arguments = arguments
    }
}

/// A console view: its navigation entry (`#/<route>`, labelled `label`) and the JavaScript module
/// that renders it, served at `/console/packs/<pack>/<file>` and listed by `GET /v1/console/views`,
/// which the console reads after sign-in. The module exports a view function named `export`, with
/// the console's own views' shape: `view(main, params, { session })`, returning an optional cleanup.
/// A pack keeps its console files in `Sources/<Pack>/Console/`; scripts/sync-console embeds them
/// as `ConsolePart.files`, which `init(route:label:export:file:files:)` reads.
public struct ConsoleView: Sendable {
    public var route: String
    public var label: String
    public var export: String
    public var file: String
    public var contentType: String
    public var etag: String
    public var bytes: [UInt8]

    public init(route: String, label: String, export: String, file: String, contentType: String, etag: String, bytes: [UInt8]) {
        self.route = route
        self.label = label
        self.export = export
        self.file = file
        self.contentType = contentType
        self.etag = etag
        self.bytes = bytes
    }

    /// From a pack's generated `ConsolePart.files` (base64); a missing file serves nothing.
    public init(route: String, label: String, export: String, file: String,
                files: [String: (contentType: String, etag: String, base64: String)]) {
        let entry = files[file]
        self.init(route: route, label: label, export: export, file: file, contentType: entry?.contentType ?? "text/javascript; charset=utf-8",
                  etag: entry?.etag ?? "\"\"",
                  bytes: entry.flatMap { Data(base64Encoded: $0.base64, options: .ignoreUnknownCharacters) }.map(Array.init) ?? [])
    }
}
