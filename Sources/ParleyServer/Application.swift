import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ParleyAgent
import ParleyComms
import ParleyConvert
import ParleyFlows
import ServiceLifecycle
import ParleyCore
import ParleyHTTP
import ParleyMCPClient
import ParleyMCPServer
import ParleyPackKit
import ParleyPlatform
import ParleyStorage

/// Everything the HTTP application needs, built once by `serve` (or by a test).
public struct ServerDependencies: Sendable {
    public var config: ParleyConfig
    public var store: any Store
    public var clock: any Clock
    public var logger: Logger
    public var migrations: [Migration]
    /// The installed packs, in dependency order (ParleyApp's `ParleySchema.packs`).
    public var packs: [DomainPack]
    /// The recurring jobs; nil means the installed packs' own, bound to this application.
    public var triggers: [TriggerDefinition]?
    /// Seals tenants' secrets and signs links; the same key on every replica.
    public var keyring: Keyring
    /// The model chain; built from `config.models` when nil.
    public var provider: (any ModelProvider)?
    /// Verifies providers' webhooks; from the tenants' and the installation's settings when nil.
    public var webhookSecrets: WebhookSecretLookup?
    /// Rewrites templates marked `personalize`; built from `config.models` when nil (and then
    /// absent when no language model is configured or `PARLEY_PERSONALIZE` is off).
    public var personalizer: (any MessagePersonalizer)?
    /// MCP servers inside Parley that tenants may list in their registry (transport `builtin`).
    public var mcpBuiltins: [MCPBuiltinServer] = []

    public init(config: ParleyConfig, store: any Store, clock: any Clock, logger: Logger, migrations: [Migration], keyring: Keyring,
                packs: [DomainPack], triggers: [TriggerDefinition]? = nil,
                provider: (any ModelProvider)? = nil, webhookSecrets: WebhookSecretLookup? = nil, personalizer: (any MessagePersonalizer)? = nil) {
        self.webhookSecrets = webhookSecrets
        self.personalizer = personalizer
        self.triggers = triggers
        self.keyring = keyring
        self.config = config
        self.store = store
        self.clock = clock
        self.logger = logger
        self.migrations = migrations
        self.packs = packs
        self.provider = provider
    }
}

/// The router and the long-lived parts the application's lifecycle manages.
struct AssembledServer {
    var router: Router<ParleyRequestContext>
    var agent: AgentService
    var worker: CommsWorker
    var scheduler: Scheduler
    var triggers: [TriggerDefinition]
    var connectionGuard: ConnectionGuard
    var mcp: MCPService
}

public func buildRouter(_ deps: ServerDependencies, routes table: RouteTable = RouteTable()) throws -> Router<ParleyRequestContext> {
    try assemble(deps, routes: table).router
}

/// Builds the router and the long-lived services; throws when a pack cannot bind (an invalid
/// pack setting).
func assemble(_ deps: ServerDependencies, routes table: RouteTable = RouteTable()) throws -> AssembledServer {
    let metrics = HTTPMetrics()
    let router = Router(context: ParleyRequestContext.self)
    let queue = JobQueue(store: deps.store, clock: deps.clock)
    let unsubscribe = UnsubscribeLinks(keyring: deps.keyring, baseURL: CommsAssembly.baseURL(deps.config))
    let workerSettings = CommsAssembly.workerSettings(deps.config.jobs, unsubscribe: unsubscribe)
    let commsMetrics = CommsPrometheusMetrics(registry: metrics.registry)
    let worker = CommsWorker(queue: queue, router: CommsAssembly.router(deps.config.jobs, keyring: deps.keyring, baseURL: CommsAssembly.baseURL(deps.config)), settings: workerSettings,
                             logger: deps.logger, metrics: commsMetrics)
    let packContext = PackContext(store: deps.store, clock: deps.clock, keyring: deps.keyring, config: deps.config, logger: deps.logger,
                                  publicBaseURL: CommsAssembly.baseURL(deps.config), maxAttempts: workerSettings.maxAttempts, wake: { worker.wake() })
    let bound = try deps.packs.map { try $0.bind(packContext) }
    worker.install(bound.flatMap(\.jobHandlers))
    table.add(rules: CoreRouteRules.all + MCPServersController.rules + bound.flatMap(\.routeRules))
    // Each tenant may switch packs off: their tools, intents, triggers, routes and views go with them.
    let tenantPacks = TenantPackService(store: deps.store, clock: deps.clock, installed: deps.packs.map(\.name))
    let publicRoutes = bound.flatMap(\.publicRoutes)
    let converter = DocumentConverter()
    router.add(middleware: RequestMiddleware(metrics: metrics, routes: table, maxBodyBytes: deps.config.maxBodyBytes,
                                             bodyLimits: publicRoutes.compactMap { r in r.maxBodyBytes.map { ("/\(r.prefix)/", $0) } }
                                                 + [("/c/", deps.config.customerChat.attachmentMaxBytes), ConvertController.bodyLimit(converter)]))

    let keys = APIKeyService(store: deps.store, clock: deps.clock, retention: deps.config.retention)
    // Token buckets per key (or user) and per tenant after authentication; sign-in (`SignInLimits`)
    // and the public chat draw from their own (docs/rate-limits.md). Shared by the replicas on PostgreSQL.
    let limiter = RateLimiters.make(store: deps.store, clock: deps.clock,
                                    rules: RateLimitRules(settings: deps.config.rateLimits, chat: deps.config.customerChat))
    let tenantLimits = TenantLimitsService(store: deps.store, clock: deps.clock, defaults: deps.config.rateLimits)
    let limits = RateLimitMiddleware(limiter: limiter, tenantLimits: tenantLimits)
    OperationsController(store: deps.store, readiness: Readiness(store: deps.store, migrations: deps.migrations), metrics: metrics,
                         queried: { await CommsPrometheusMetrics.queueText(queue) },
                         openAPI: OpenAPIAssembly.assemble(core: OpenAPIDocument.yaml, packs: deps.packs),
                         packStatus: zip(deps.packs, bound).compactMap { pack, runtime in runtime.status.map { (pack.name, $0) } })
        .register(Routes(group: router, prefix: "", table: table))

    let console = ConsoleWebController(packViews: deps.packs.flatMap { p in p.consoleViews.map { (p.name, $0) } },
                                       enabledPacks: { try await tenantPacks.enabled(tenantID: $0) })
    console.register(Routes(group: router, prefix: "", table: table))
    // People's accounts: sign-in and tokens (outside the auth middleware), their emails through the communications engine.
    let accountMail = AccountEmailer(
        messages: MessageService(queue: queue, maxAttempts: workerSettings.maxAttempts,
                                 templates: TemplateService(store: deps.store, clock: deps.clock, defaults: DefaultTemplates.all + deps.packs.flatMap(\.templates)),
                                 personalizer: nil, personalization: PersonalizationAssembly.settings(deps.config.models), metrics: commsMetrics,
                                 wake: { worker.wake() }),
        baseURL: CommsAssembly.baseURL(deps.config))
    let accounts = AccountService(store: deps.store, clock: deps.clock, keyring: deps.keyring, settings: deps.config.accounts,
                                  mailer: accountMail, logger: deps.logger, retention: deps.config.retention)
    let sessions = ConsoleSessionService(store: deps.store, clock: deps.clock, settings: .init(deps.config), accounts: accounts)
    AuthSessionController(sessions: sessions, secureCookie: deps.config.publicURL?.lowercased().hasPrefix("https://") == true, limiter: limiter)
        .register(Routes(group: router.group("v1/auth"), prefix: "/v1/auth", table: table))
    AccountAuthController(accounts: accounts, limiter: limiter).register(Routes(group: router.group("v1/auth"), prefix: "/v1/auth", table: table))
    let auth = AuthMiddleware(keys: keys, accounts: accounts, sessions: sessions, publicURL: deps.config.publicURL)
    let v1 = router.group("v1").add(middleware: auth).add(middleware: limits)
    let v1Routes = Routes(group: v1, prefix: "/v1", table: table)
    let maxBody = deps.config.maxBodyBytes
    TenantController(tenants: TenantService(store: deps.store, clock: deps.clock), maxBodyBytes: deps.config.maxBodyBytes).register(v1Routes)
    APIKeyController(keys: keys, maxBodyBytes: maxBody).register(v1Routes)
    AuditController(audit: AuditService(store: deps.store)).register(v1Routes)
    UserController(accounts: accounts, maxBodyBytes: maxBody).register(v1Routes)
    AdminTenantController(admin: AdminTenantService(store: deps.store, clock: deps.clock, zoneChanged: { tenantID, zone, now, db in
        _ = try await Scheduler.followZone(tenantID: tenantID, zone: zone, now: now, on: db)
    }), maxBodyBytes: maxBody).register(v1Routes)
    ConvertController(converter: converter).register(v1Routes)
    console.registerViews(v1Routes)
    TenantPackController(packs: tenantPacks, maxBodyBytes: deps.config.maxBodyBytes).register(v1Routes)
    TenantLimitsController(limits: tenantLimits, maxBodyBytes: maxBody).register(v1Routes)

    UnsubscribeController(links: unsubscribe, store: deps.store, clock: deps.clock).register(Routes(group: router, prefix: "", table: table))
    let channels = TenantChannelService(store: deps.store, clock: deps.clock, keyring: deps.keyring, installation: deps.config.jobs)
    let installationSecrets = CommsAssembly.webhookSecrets(deps.config.jobs)
    // A tenant's own provider account signs its webhooks; otherwise the installation's does.
    let webhookSecrets: WebhookSecretLookup = deps.webhookSecrets ?? { tenantID, provider in
        if let own = try await channels.webhookSecret(tenantID: tenantID, provider: provider) { return own }
        return try await installationSecrets(tenantID, provider)
    }
    WebhookController(webhooks: WebhookService(store: deps.store, clock: deps.clock, secrets: webhookSecrets,
                                               logger: deps.logger),
                      store: deps.store, baseURL: CommsAssembly.baseURL(deps.config), maxBodyBytes: maxBody)
        .register(Routes(group: router, prefix: "", table: table))
    let triggers = deps.triggers ?? zip(deps.packs, bound).flatMap { pack, runtime in
        runtime.triggers.map { $0.only { tenantID, db in try await tenantPacks.isEnabled(pack.name, tenantID: tenantID, on: db) } }
    }
    let defaultTemplates = DefaultTemplates.all + deps.packs.flatMap(\.templates)

    var settings = AgentAssembly.settings(deps.config.agent)
    // Each pack's rules for the agent: the tenant's version of the pack's prompt template (or the default).
    let promptTemplates = deps.packs.compactMap { p in p.systemPromptTemplate.map { (pack: p.name, template: $0) } }
    if !promptTemplates.isEmpty {
        settings.tenantInstructions = { [store = deps.store, clock = deps.clock] tenantID in
            let templates = TemplateService(store: store, clock: clock, defaults: defaultTemplates)
            let on = (try? await tenantPacks.enabled(tenantID: tenantID)) ?? []
            var parts: [String] = []
            for p in promptTemplates where on.contains(p.pack) {
                if let text = try? await templates.template(tenantID: tenantID, name: p.template).text { parts.append(text) }
            }
            return parts.isEmpty ? nil : parts.joined(separator: "\n\n")
        }
    }
    settings.unavailableTools = { [packs = deps.packs] tenantID in
        PackSet.unavailableTools(packs, enabled: try await tenantPacks.enabled(tenantID: tenantID))
    }
    // New hand-offs are emailed to the tenant's staff address through the communications engine.
    settings.handoffNotifier = HandoffEmailNotifier(messages: MessageService(
        queue: queue, maxAttempts: workerSettings.maxAttempts, templates: TemplateService(store: deps.store, clock: deps.clock, defaults: defaultTemplates),
        personalizer: nil, personalization: PersonalizationAssembly.settings(deps.config.models), metrics: commsMetrics, wake: { worker.wake() }))
    // The tenant's MCP servers' tools (`server__tool`), discovered through its registry.
    let mcp = MCPService(store: deps.store, clock: deps.clock, keyring: deps.keyring, settings: deps.config.mcp,
                         outbound: OutboundGuard(policy: deps.config.jobs.outbound), builtins: deps.mcpBuiltins, logger: deps.logger)
    settings.extraTools = { tenantID in try await mcp.agentTools(tenantID: tenantID) }
    settings.isTenantToolName = { tenantID, name in try await mcp.isToolName(tenantID: tenantID, name: name) }
    let hub = EventHub(bufferLimit: settings.streamBuffer)
    var registry = ToolRegistry()
    // The core's tools (escalate_to_human) first, then the packs'.
    for tool in CoreTools.all + deps.packs.flatMap(\.tools) { registry.register(tool) }
    let runtime = AgentRuntime(
        store: deps.store, clock: deps.clock, hub: hub,
        provider: deps.provider ?? AgentAssembly.provider(deps.config.models, packs: deps.packs), tools: registry,
        settings: settings, metrics: AgentPrometheusMetrics(registry: metrics.registry), logger: deps.logger,
        services: ToolServices(bound.flatMap(\.services)))
    let agent = AgentService(runtime: runtime)
    metrics.liveAgent.withLock { $0 = { (runtime.activeRuns, hub.subscriberCount) } }

    ChatController(agent: agent, metrics: metrics, maxBodyBytes: maxBody).register(v1Routes)
    WorkflowController(agent: agent, metrics: metrics, maxBodyBytes: maxBody).register(v1Routes)
    SessionController(agent: agent, maxBodyBytes: maxBody).register(v1Routes)
    ToolController(agent: agent, maxBodyBytes: maxBody).register(v1Routes)
    let agentDefinitions = AgentDefinitionService(agent: agent, retention: deps.config.retention)
    AgentDefinitionController(agents: agentDefinitions, metrics: metrics, maxBodyBytes: maxBody).register(v1Routes)
    ChatCompletionsController(agents: agentDefinitions, metrics: metrics, maxBodyBytes: maxBody, clock: deps.clock).register(v1Routes)
    ConversationController(conversations: ConversationService(agent: agent, retention: deps.config.retention)).register(v1Routes)
    HandoffController(handoffs: HandoffService(agent: agent), maxBodyBytes: maxBody).register(v1Routes)
    MCPServersController(mcp: mcp, maxBodyBytes: maxBody).register(v1Routes)
    // Parley as an MCP server (docs/mcp.md): `/mcp`, authenticated and rate limited like /v1.
    MCPEndpointController(endpoint: MCPEndpoint(agent: agent, sessions: MCPSessionStore(store: deps.store, clock: deps.clock), logger: deps.logger),
                          maxBodyBytes: maxBody)
        .register(Routes(group: router.group("").add(middleware: MCPOriginGuard(publicURL: deps.config.publicURL)).add(middleware: auth).add(middleware: limits),
                         prefix: "", table: table))
    // Seed 000's paths, kept as aliases.
    ChatController(agent: agent, metrics: metrics, maxBodyBytes: maxBody)
        .register(Routes(group: router.group("").add(middleware: auth).add(middleware: limits), prefix: "", table: table))
    SeedWorkflowController(agent: agent).register(Routes(group: router.group("api").add(middleware: auth).add(middleware: limits), prefix: "/api", table: table))
    // The public customer chat page (`/c/{slug}`) and its settings (`/v1/tenant/widget`).
    let widgets = WidgetSettingsService(store: deps.store, clock: deps.clock)
    WidgetSettingsController(widgets: widgets, maxBodyBytes: maxBody).register(v1Routes, tenants: TenantService(store: deps.store, clock: deps.clock))
    CustomerChatController(chat: CustomerChatService(widgets: widgets, agent: agent, store: deps.store, clock: deps.clock, settings: deps.config.customerChat,
                                                     limiter: limiter),
                           metrics: metrics, publicURL: deps.config.publicURL)
        .register(Routes(group: router.group("c").add(middleware: CustomerChatMiddleware(metrics: metrics)), prefix: "/c", table: table))
    table.add("/ws", .get)
    let connectionGuard = ConnectionGuard(deps.config.transport, logger: deps.logger)
    // At shutdown live streams end with `reconnect` instead of holding the server's drain open.
    connectionGuard.drain.onBegin { hub.finishAll() }
    WebSocketController(agent: agent, metrics: metrics, drain: connectionGuard.drain).register(router, auth: auth)

    let templates = TemplateService(store: deps.store, clock: deps.clock, defaults: defaultTemplates, retention: deps.config.retention)
    let personalizer = deps.config.models.personalize
        ? deps.personalizer ?? PersonalizationAssembly.personalizer(deps.config.models, clock: deps.clock, logger: deps.logger) : nil
    let personalization = PersonalizationAssembly.settings(deps.config.models)
    let messages = MessageService(queue: queue, maxAttempts: workerSettings.maxAttempts, templates: templates, personalizer: personalizer,
                                  personalization: personalization, metrics: commsMetrics, wake: { worker.wake() })
    MessageController(messages: messages, maxBodyBytes: maxBody).register(v1Routes)
    // Flows: executions advance as jobs on the same queue, run by this process's worker (or any other's).
    let flowRunner = AgentServiceFlowRunner(agent: agent)
    let flowEngine = FlowEngine(store: deps.store, clock: deps.clock, tools: flowRunner, agents: flowRunner, messages: messages,
                                http: OutboundFlowHTTP(policy: deps.config.jobs.outbound), toolNames: agent.installedToolNames,
                                logger: deps.logger, wake: { worker.wake() })
    worker.install([flowEngine.handler])
    let flows = FlowService(engine: flowEngine)
    FlowController(flows: flows, metrics: metrics, maxBodyBytes: maxBody).register(v1Routes)
    // At shutdown live flow streams end with `reconnect`, like runs' streams.
    connectionGuard.drain.onBegin { flows.streams.finishAll() }
    TemplateController(templates: templates, maxBodyBytes: maxBody, personalizer: personalizer, personalization: personalization).register(v1Routes)
    ConsentController(consent: ConsentService(store: deps.store, clock: deps.clock)).register(v1Routes, maxBodyBytes: maxBody)
    JobController(queue: queue, wake: { worker.wake() }).register(v1Routes)
    ChannelController(channels: channels, maxBodyBytes: maxBody).register(v1Routes)
    let scheduler = Scheduler(store: deps.store, clock: deps.clock, definitions: triggers, logger: deps.logger)
    ScheduleController(scheduler: scheduler, definitions: triggers, maxBodyBytes: maxBody).register(v1Routes)
    // The packs' own routes: under /v1 behind authentication, and their public pages.
    // A tenant that switched the pack off gets 404 `pack_disabled` from its /v1 routes. Public
    // routes carry their own credential (a signed link) and answer as long as the pack is installed.
    for (pack, runtime) in zip(deps.packs, bound) {
        runtime.routes?(Routes(group: v1.group().add(middleware: PackGate(pack: pack.name, packs: tenantPacks)), prefix: "/v1", table: table))
        for r in runtime.publicRoutes { r.register(Routes(group: router.group(RouterPath(r.prefix)), prefix: "/" + r.prefix, table: table)) }
    }
    return AssembledServer(router: router, agent: agent, worker: worker, scheduler: scheduler, triggers: triggers, connectionGuard: connectionGuard, mcp: mcp)
}

public func buildApplication(
    _ deps: ServerDependencies,
    onServerRunning: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in }
) throws -> some ApplicationProtocol {
    let parts = try assemble(deps)
    var app = Application(
        router: parts.router,
        server: .parley(webSocketRouter: parts.router, connectionGuard: parts.connectionGuard),
        configuration: .init(address: .hostname(deps.config.host, port: deps.config.port), serverName: "Parley"),
        onServerRunning: { channel in
            await onServerRunning(deps.config.host, channel.localAddress?.port ?? deps.config.port)
        },
        logger: deps.logger
    )
    // Runs a previous process left unfinished are marked failed before the first request.
    let agent = parts.agent
    let logger = deps.logger
    app.beforeServerStarts {
        do {
            let n = try await agent.recoverInterrupted()
            if n > 0 { logger.notice("marked \(n) interrupted agent run(s) as failed") }
        } catch {
            logger.warning("could not check for interrupted agent runs: \(error)")
        }
    }
    app.addServices(AgentLifecycle(agent: agent, mcp: parts.mcp))
    if deps.config.jobs.serveRunsWorker {
        let purge = RetentionPurge(store: deps.store, clock: deps.clock, config: deps.config, packs: deps.packs, logger: deps.logger)
        app.addServices(WorkerService(worker: parts.worker),
                        SchedulerService(scheduler: parts.scheduler, definitions: parts.triggers, tick: .seconds(deps.config.jobs.schedulerTickSeconds)),
                        MaintenanceService { await purge.loop(every: RetentionPurge.interval) })
    }
    return app
}

/// At shutdown: ends live streams so the server can drain, and lets runs in progress record
/// their end.
struct AgentLifecycle: Service {
    let agent: AgentService
    let mcp: MCPService

    func run() async throws {
        try? await gracefulShutdown()
        agent.runtime.hub.finishAll()
        await agent.runtime.shutdown()
        // The tenants' stdio MCP servers stop with the runs that used them (SIGTERM, then SIGKILL).
        await mcp.shutdown()
    }
}

/// Runs the application until SIGTERM or SIGINT, then drains: the server stops accepting
/// connections and finishes the requests in flight before this returns.
public func runUntilSignalled(_ app: some ApplicationProtocol, logger: Logger) async throws {
    // Services shut down in reverse order, so the notice (last) logs before the server drains.
    // It returns once it has logged; `.ignore` keeps that from cancelling the group (the default
    // would cancel in-flight requests).
    let group = ServiceGroup(configuration: .init(
        services: [
            .init(service: app),
            .init(service: ServerShutdownNotice(logger: logger), successTerminationBehavior: .ignore),
        ],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
}

/// Logs the start of a graceful shutdown, so operators (and tests) see when draining begins, then
/// ends the live streams so the server can drain.
struct ServerShutdownNotice: Service {
    let logger: Logger
    func run() async throws {
        try? await gracefulShutdown()
        logger.notice("shutting down: finishing in-flight requests")
        // Live streams end first, each with a final `reconnect` (ShutdownDrain.swift).
        await ShutdownDrain.drainAll()
    }
}
