import Logging
import ServiceLifecycle

/// Runs the communications worker with the server; it stops taking jobs at shutdown.
public struct WorkerService: Service {
    let worker: CommsWorker

    public init(worker: CommsWorker) { self.worker = worker }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await worker.run()
        } onGracefulShutdown: {
            worker.stop()
        }
    }
}

/// Fires the packs' recurring tasks; one runner across all processes holds the lease at a time.
public struct SchedulerService: Service {
    let scheduler: Scheduler
    let definitions: [TriggerDefinition]
    let tick: Duration

    public init(scheduler: Scheduler, definitions: [TriggerDefinition], tick: Duration) {
        self.scheduler = scheduler
        self.definitions = definitions
        self.tick = tick
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await scheduler.run(every: tick, definitions: definitions)
        }
    }
}

/// A maintenance loop apart from the scheduler (the retention purge, docs/soft-delete.md): runs
/// `body` until shutdown cancels it.
public struct MaintenanceService: Service {
    let body: @Sendable () async -> Void

    public init(_ body: @escaping @Sendable () async -> Void) { self.body = body }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }
}

/// Logs the start of a graceful shutdown, so operators (and tests) see when draining begins.
public struct ShutdownNotice: Service {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func run() async throws {
        try? await gracefulShutdown()
        logger.notice("shutting down: finishing in-flight requests")
    }
}
