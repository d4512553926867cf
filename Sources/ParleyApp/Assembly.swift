import Foundation
import Logging
import ParleyComms
import ParleyCore
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
        let tenantPacks = TenantPackService(store: context.store, clock: context.clock, installed: packs.map(\.name))
        var triggers: [TriggerDefinition] = []
        var handlers: [JobHandler] = []
        for pack in packs {
            let runtime = try pack.bind(context)
            triggers += runtime.triggers.map { $0.only { tenantID, db in try await tenantPacks.isEnabled(pack.name, tenantID: tenantID, on: db) } }
            handlers += runtime.jobHandlers
        }
        return (triggers, handlers)
    }
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
    let (triggers, jobHandlers) = try AppAssembly.bind(packs, context: context)
    worker.install(jobHandlers)
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
