import Foundation
import Logging
import ParleyAgent
import ParleyComms
import ParleyCore
import ParleyFlows
import ParleyMCPClient
import ParleyMCPServer
import ParleyPackKit
import ParleyPlatform
import ParleyStorage
import ServiceLifecycle

/// Assembles what `worker` and the CLI's database commands run, from the installed packs.
public enum AppAssembly {
    /// Resolves the core's settings, then checks every installed pack's (flags > environment >
    /// env file > defaults); an invalid one throws naming it.
    public static func loadConfig(_ sources: ConfigSources, packs: PackSet = ParleySchema.packSet) throws(ConfigError) -> ParleyConfig {
        let config = try ParleyConfig.load(sources)
        _ = try packs.enabled(config)
        try packs.validateSettings(config)
        return config
    }

    /// The MCP servers built into Parley that tenants may add to their registry (transport
    /// `builtin`, docs/mcp.md); each opens an in-process `MCP.Transport` for a tenant.
    public static func mcpBuiltins(_ config: ParleyConfig) -> [MCPBuiltinServer] {
        let builtins = BuiltinMCPServers(dataDirectory: URL(fileURLWithPath: config.filesDirectory, isDirectory: true))
        return BuiltinMCPServers.names.map { name in
            MCPBuiltinServer(name: name, description: BuiltinMCPServers.descriptions[name] ?? "") { tenantID in
                try await builtins.connect(name: name, tenantID: tenantID)
            }
        }
    }

    /// The packs this installation runs (`PARLEY_PACKS`, default all installed).
    public static func enabledPacks(_ config: ParleyConfig, packs: PackSet = ParleySchema.packSet) throws(ConfigError) -> [DomainPack] {
        try packs.enabled(config)
    }

    /// The installed packs' recurring jobs, bound to this process (the worker wakes after they queue messages).
    /// Each is skipped for tenants that switched its pack off.
    public static func triggers(_ packs: [DomainPack], context: PackContext) throws -> [TriggerDefinition] {
        try bind(packs, context: context).triggers
    }

    /// Binds every pack once: their triggers (each skipped for tenants that switched its pack
    /// off) and their job handlers.
    public static func bind(_ packs: [DomainPack], context: PackContext) throws -> (triggers: [TriggerDefinition], jobHandlers: [JobHandler]) {
        let bound = try bindAll(packs, context: context)
        return (bound.triggers, bound.jobHandlers)
    }

    public static func bindAll(_ packs: [DomainPack], context: PackContext) throws
        -> (triggers: [TriggerDefinition], jobHandlers: [JobHandler], services: [any Sendable]) {
        let tenantPacks = TenantPackService(store: context.store, clock: context.clock, installed: packs.map(\.name))
        var triggers: [TriggerDefinition] = []
        var handlers: [JobHandler] = []
        var services: [any Sendable] = []
        for pack in packs {
            let runtime = try pack.bind(context)
            triggers += runtime.triggers.map { $0.only { tenantID, db in try await tenantPacks.isEnabled(pack.name, tenantID: tenantID, on: db) } }
            handlers += runtime.jobHandlers
            services += runtime.services
        }
        return (triggers, handlers, services)
    }

    /// The workflow engine of `parley worker`: flow steps run here as in `serve`, tool and agent
    /// steps through an agent runtime of this process (the packs' tools, the configured models
    /// and the offline planner; the packs' prompt templates are `serve`'s alone), messages
    /// through the communications engine (without personalisation).
    public static func flowEngine(config: ParleyConfig, context: PackContext, packs: [DomainPack], services: [any Sendable], logger: Logger) -> FlowEngine {
        var registry = ToolRegistry()
        for tool in CoreTools.all + packs.flatMap(\.tools) { registry.register(tool) }
        let tenantPacks = TenantPackService(store: context.store, clock: context.clock, installed: packs.map(\.name))
        var settings = AgentSettings()
        settings.maxIterations = config.agent.maxIterations
        settings.runTimeout = .seconds(config.agent.runTimeoutSeconds)
        settings.unavailableTools = { tenantID in PackSet.unavailableTools(packs, enabled: try await tenantPacks.enabled(tenantID: tenantID)) }
        let offline = OfflinePlanner(intents: packs.flatMap(\.plannerIntents))
        let models = LanguageModels.configured(config.models)
        let provider: any ModelProvider = models.isEmpty ? offline : FailoverProvider(providers: models + [offline])
        let runtime = AgentRuntime(store: context.store, clock: context.clock, hub: EventHub(), provider: provider, tools: registry, settings: settings,
                                   metrics: NoAgentMetrics(), logger: logger, services: ToolServices(services))
        let agent = AgentService(runtime: runtime)
        let runner = AgentServiceFlowRunner(agent: agent)
        let templates = TemplateService(store: context.store, clock: context.clock, defaults: DefaultTemplates.all + packs.flatMap(\.templates))
        let messages = MessageService(queue: JobQueue(store: context.store, clock: context.clock), maxAttempts: context.maxAttempts, templates: templates,
                                      wake: context.wake)
        return FlowEngine(store: context.store, clock: context.clock, tools: runner, agents: runner, messages: messages,
                          http: OutboundFlowHTTP(policy: config.jobs.outbound), toolNames: agent.installedToolNames, logger: logger, wake: context.wake)
    }
}

/// `parley worker` reports no agent metrics (it serves no `/metrics`).
struct NoAgentMetrics: AgentMetrics {
    func workflowFinished(status: WorkflowStatus, duration: Duration) {}
    func toolExecuted(tool: String, outcome: String, duration: Duration) {}
    func modelCalled(provider: String, outcome: String, duration: Duration) {}
    func tokensUsed(provider: String, input: Int, output: Int) {}
}

/// `parley worker`: the communications worker and the scheduler without the HTTP API, until
/// SIGTERM or SIGINT.
public func runWorkerUntilSignalled(config: ParleyConfig, store: any Store, clock: any Clock, logger: Logger, keyring: Keyring,
                                    packs: [DomainPack]) async throws {
    let queue = JobQueue(store: store, clock: clock)
    let unsubscribe = UnsubscribeLinks(keyring: keyring, baseURL: CommsAssembly.baseURL(config))
    let workerSettings = CommsAssembly.workerSettings(config.jobs, unsubscribe: unsubscribe)
    let worker = CommsWorker(queue: queue, router: CommsAssembly.router(config.jobs, keyring: keyring, baseURL: CommsAssembly.baseURL(config)),
                             settings: workerSettings, logger: logger)
    let context = PackContext(store: store, clock: clock, keyring: keyring, config: config, logger: logger,
                              publicBaseURL: CommsAssembly.baseURL(config), maxAttempts: workerSettings.maxAttempts, wake: { worker.wake() })
    let (triggers, jobHandlers, services) = try AppAssembly.bindAll(packs, context: context)
    worker.install(jobHandlers)
    worker.install([AppAssembly.flowEngine(config: config, context: context, packs: packs, services: services, logger: logger).handler])
    let scheduler = Scheduler(store: store, clock: clock, definitions: triggers, logger: logger)
    let group = ServiceGroup(configuration: .init(
        services: [
            .init(service: WorkerService(worker: worker)),
            .init(service: SchedulerService(scheduler: scheduler, definitions: triggers, tick: .seconds(config.jobs.schedulerTickSeconds))),
            .init(service: MaintenanceService { [purge = RetentionPurge(store: store, clock: clock, config: config, packs: packs, logger: logger)] in
                await purge.loop(every: RetentionPurge.interval)
            }),
            .init(service: ShutdownNotice(logger: logger), successTerminationBehavior: .ignore),
        ],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
}
