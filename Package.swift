// swift-tools-version:6.1
import Foundation
import PackageDescription

// PARLEY_TARGET_CPU=haswell (or znver3, skylake, ... any `-target-cpu` value) compiles the built-in
// embedder's kernels for that CPU's vector units (AVX2 and FMA: about twice the throughput). The
// default is the baseline x86-64 every machine runs; a binary built for a newer CPU stops with an
// illegal instruction on an older one. (PARLEY_FMA: the matrix multiply fuses its multiply-adds.)
let embedderCPU: [SwiftSetting] = ProcessInfo.processInfo.environment["PARLEY_TARGET_CPU"].map {
    [.unsafeFlags(["-target-cpu", $0]), .define("PARLEY_FMA")]
} ?? []

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "parley",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "parley", targets: ["ParleyCLI"]),
        .executable(name: "parley-bench-embed", targets: ["ParleyBenchEmbed"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", .upToNextMinor(from: "0.12.1")),
    ],
    targets: [
        // Domain types and ports (protocols). Depends on nothing heavy.
        .target(
            name: "ParleyCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // SQLite + PostgreSQL behind one data-access layer; migrations; repositories.
        .target(
            name: "ParleyStorage",
            dependencies: [
                "ParleyCore",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Platform services: tenants, API keys, authentication, audit log, first-start bootstrap.
        .target(
            name: "ParleyPlatform",
            dependencies: ["ParleyCore", "ParleyStorage", .product(name: "SQLKit", package: "sql-kit"),
                           .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The one HTTP layer for outbound calls to providers: shared client, timeouts, retries
        // with backoff and Retry-After, a body cap, secret redaction, the OutboundGuard check.
        .target(
            name: "ParleyOutbound",
            dependencies: [
                "ParleyCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Agent runtime: model interface, providers, offline planner, tools, the loop, runs and streams.
        .target(
            name: "ParleyAgent",
            dependencies: [
                "ParleyCore",
                "ParleyStorage",
                "ParleyPlatform",
                "ParleyOutbound",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Communications engine: durable job queue, scheduler, quiet hours, consent, templates, channels.
        .target(
            name: "ParleyComms",
            dependencies: [
                "ParleyCore", "ParleyStorage", "ParleyPlatform", "ParleyOutbound",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The HTTP kit packs build their routes with: request context, route registration, JSON
        // bodies and responses, the error envelope. No application assembly.
        .target(
            name: "ParleyHTTP",
            dependencies: [
                "ParleyCore", "ParleyStorage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The one seam between the core and a business domain: `DomainPack` and what a pack is
        // given (`PackContext`) and contributes (migrations, tools, intents, templates, triggers,
        // settings, routes, CLI commands, console views, its part of the OpenAPI document).
        .target(
            name: "ParleyPackKit",
            dependencies: [
                "ParleyCore", "ParleyStorage", "ParleyPlatform", "ParleyAgent", "ParleyComms", "ParleyHTTP", "ParleyFlows",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Documents to Markdown (PDF, DOCX, XLSX, PPTX, HTML, CSV, JSON, text), bounded against hostile files.
        // The system zlib (Debian's zlib1g-dev), for ZIP containers and PDF streams.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "ParleyConvert",
            dependencies: ["ParleyCore", "CZlib"],
            swiftSettings: strict
        ),
        // Embeddings: the Embedder interface, the built-in all-MiniLM-L6-v2, OpenAI-compatible
        // servers, and exact nearest-neighbour search.
        // Its numeric kernels are optimised in debug builds too (tests run debug builds; a debug
        // transformer forward pass is ~50x slower).
        .target(
            name: "ParleyEmbed",
            dependencies: [
                "ParleyCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict + embedderCPU + [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // The embedding benchmark (scripts/bench-embed): exact vector search and the built-in embedder.
        .executableTarget(
            name: "ParleyBenchEmbed",
            dependencies: ["ParleyCore", "ParleyEmbed"],
            path: "Benchmarks/embed",
            swiftSettings: strict
        ),
        // The customer-support pack: knowledge base (collections, documents, chunks, BM25 + vectors
        // fused by reciprocal rank), the search_knowledge tool with citations.
        .target(
            name: "ParleySupport",
            dependencies: [
                "ParleyCore", "ParleyStorage", "ParleyPlatform", "ParleyAgent", "ParleyComms", "ParleyHTTP", "ParleyPackKit",
                "ParleyConvert", "ParleyEmbed",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["openapi.yaml", "Console"],
            swiftSettings: strict
        ),
        // The legal document-collection pack: cases, requested documents, reminders, upload links.
        .target(
            name: "ParleyLegal",
            dependencies: [
                "ParleyCore", "ParleyStorage", "ParleyPlatform", "ParleyAgent", "ParleyComms", "ParleyHTTP", "ParleyPackKit",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["NICKNAMES-LICENSE.txt", "openapi.yaml", "Console"],
            swiftSettings: strict
        ),
        // The dealership pack (seed 003): customers, equipment, work orders, the ten lifecycle
        // triggers, the forecast and the simulation.
        .target(
            name: "ParleyDealership",
            dependencies: [
                "ParleyCore", "ParleyStorage", "ParleyPlatform", "ParleyAgent", "ParleyComms", "ParleyHTTP", "ParleyPackKit",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Parley as an MCP client: the per-tenant registry of MCP servers, the stdio (posix_spawn) and
        // Streamable HTTP transports, discovered tools offered to agents, the executions log.
        .target(
            name: "ParleyMCPClient",
            dependencies: [
                "ParleyCore", "ParleyStorage", "ParleyPlatform", "ParleyAgent", "ParleyOutbound",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The composition root: the installed packs (written here only), the schema they make up,
        // and the assembly of `worker` and the CLI's database commands (no HTTP server).
        .target(
            name: "ParleyApp",
            dependencies: [
                "ParleyCore", "ParleyStorage", "ParleyPlatform", "ParleyAgent", "ParleyComms", "ParleyFlows", "ParleyPackKit", "ParleyLegal",
                "ParleySupport", "ParleyDealership", "ParleyMCPClient", "ParleyMCPServer",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Parley as an MCP server: the JSON-RPC handler behind `/mcp` (the tenant's tools, approvals,
        // sessions) and the built-in calculator and filesystem servers, connectable in-process.
        .target(
            name: "ParleyMCPServer",
            dependencies: [
                "ParleyCore", "ParleyStorage", "ParleyPlatform", "ParleyAgent",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The durable workflow engine: flows as data, executions as jobs on the communications queue.
        .target(
            name: "ParleyFlows",
            dependencies: [
                "ParleyCore", "ParleyStorage", "ParleyPlatform", "ParleyAgent", "ParleyComms", "ParleyOutbound",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // HTTP surface: routes, middleware, error mapping, metrics, app assembly.
        .target(
            name: "ParleyServer",
            dependencies: [
                "ParleyCore",
                "ParleyStorage",
                "ParleyPlatform",
                "ParleyAgent",
                "ParleyComms",
                "ParleyFlows",
                "ParleyHTTP",
                "ParleyPackKit",
                "ParleyConvert",
                "ParleyMCPClient",
                "ParleyMCPServer",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "ParleyCLI",
            dependencies: [
                "ParleyCore",
                "ParleyStorage",
                "ParleyPlatform",
                "ParleyServer",
                "ParleyAgent",
                "ParleyComms",
                "ParleyPackKit",
                "ParleyApp",
                "ParleyConvert",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ParleyTests",
            dependencies: [
                "ParleyCore",
                "ParleyStorage",
                "ParleyPlatform",
                "ParleyServer",
                "ParleyAgent",
                "ParleyComms",
                "ParleyFlows",
                "ParleyLegal",
                "ParleySupport",
                "ParleyDealership",
                "ParleyHTTP",
                "ParleyPackKit",
                "ParleyApp",
                "ParleyConvert",
                "ParleyEmbed",
                "ParleyOutbound",
                "ParleyMCPClient",
                "ParleyMCPServer",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
