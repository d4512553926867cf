import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import ParleyCore
import ParleyPlatform
import ParleyStorage

/// Everything the HTTP application needs, built once by `serve` (or by a test).
public struct ServerDependencies: Sendable {
    public var config: ParleyConfig
    public var store: any Store
    public var clock: any Clock
    public var logger: Logger
    public var migrations: [Migration]

    public init(config: ParleyConfig, store: any Store, clock: any Clock, logger: Logger, migrations: [Migration]) {
        self.config = config
        self.store = store
        self.clock = clock
        self.logger = logger
        self.migrations = migrations
    }
}

public func buildRouter(_ deps: ServerDependencies, routes table: RouteTable = RouteTable()) -> Router<ParleyRequestContext> {
    let metrics = HTTPMetrics()
    let router = Router(context: ParleyRequestContext.self)
    router.add(middleware: RequestMiddleware(metrics: metrics, routes: table, maxBodyBytes: deps.config.maxBodyBytes))

    let keys = APIKeyService(store: deps.store, clock: deps.clock)
    OperationsController(store: deps.store, readiness: Readiness(store: deps.store, migrations: deps.migrations), metrics: metrics)
        .register(Routes(group: router, prefix: "", table: table))

    let v1 = router.group("v1").add(middleware: AuthMiddleware(keys: keys))
    let v1Routes = Routes(group: v1, prefix: "/v1", table: table)
    TenantController(tenants: TenantService(store: deps.store, clock: deps.clock)).register(v1Routes)
    APIKeyController(keys: keys, maxBodyBytes: deps.config.maxBodyBytes).register(v1Routes)
    AuditController(audit: AuditService(store: deps.store)).register(v1Routes)
    return router
}

public func buildApplication(
    _ deps: ServerDependencies,
    onServerRunning: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in }
) -> some ApplicationProtocol {
    let router = buildRouter(deps)
    let app = Application(
        router: router,
        configuration: .init(address: .hostname(deps.config.host, port: deps.config.port), serverName: "Parley"),
        onServerRunning: { channel in
            await onServerRunning(deps.config.host, channel.localAddress?.port ?? deps.config.port)
        },
        logger: deps.logger
    )
    return app
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
            .init(service: ShutdownNotice(logger: logger), successTerminationBehavior: .ignore),
        ],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
}

/// Logs the start of a graceful shutdown, so operators (and tests) see when draining begins.
struct ShutdownNotice: Service {
    let logger: Logger
    func run() async throws {
        try? await gracefulShutdown()
        logger.notice("shutting down: finishing in-flight requests")
    }
}
