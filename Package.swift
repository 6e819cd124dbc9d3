// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "batchd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "batchd", targets: ["batchd"]),
        .library(name: "BatchdCore", targets: ["BatchdCore"]),
        .library(name: "BatchdTestKit", targets: ["BatchdTestKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The system libyaml (Debian libyaml-dev), seen through a one-line shim header.
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // libcurl (Debian libcurl4; its header from libcurl4-openssl-dev), loaded with dlopen on
        // the first transfer, behind typed wrappers Swift can call (see include/CCurl.h).
        .target(name: "CCurl"),
        // The few system calls Swift cannot make directly (posix_spawn with a process group,
        // pidfd_open, prctl), each wrapped with a CBatchd_ prefix.
        .target(name: "CBatchdSystem"),
        // Configuration, scheduling, running jobs, history: the daemon without its front ends.
        .target(
            name: "BatchdCore",
            dependencies: [
                "CYAML", "CCurl", "CBatchdSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The read-only HTTP API and /metrics (SPEC sections 5 and 7) on SwiftNIO's HTTP/1
        // server: one more service of the daemon, started only when `http.listen` is set.
        .target(
            name: "BatchdHTTP",
            dependencies: [
                "BatchdCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The built-in job types: each one file, listed once in BuiltInJobTypes.swift.
        .target(name: "BatchdHandlers", dependencies: ["BatchdCore"]),
        // The command line: one file per subcommand; wiring only.
        .executableTarget(
            name: "batchd",
            dependencies: [
                "BatchdCore",
                "BatchdHandlers",
                "BatchdHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Footprint of the release binary (bench/RESULTS.md): lld packs its 94,000 relative
            // relocations into a few kilobytes (DT_RELR, glibc 2.36), and only the symbols a
            // shared library needs are exported, so the loader reads 4 MB less at start-up.
            linkerSettings: [
                .unsafeFlags(["-use-ld=lld", "-Xlinker", "--no-export-dynamic", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                             .when(platforms: [.linux], configuration: .release)),
            ]
        ),
        // What tests of batchd (and of custom job types) need: a manual clock, an in-memory
        // history store, a scripted job type.
        .target(name: "BatchdTestKit", dependencies: ["BatchdCore", "CBatchdSystem", .product(name: "Logging", package: "swift-log")]),
        // The history benchmark (bench/run-history): the real store, timed from inside.
        .executableTarget(name: "batchd-bench", dependencies: ["BatchdCore"]),
        .testTarget(name: "BatchdCoreTests", dependencies: ["BatchdCore", "BatchdHandlers", "BatchdTestKit"]),
        .testTarget(name: "BatchdHandlersTests", dependencies: ["BatchdHandlers", "BatchdCore", "BatchdTestKit"]),
        .testTarget(name: "BatchdHTTPTests", dependencies: ["BatchdHTTP", "BatchdCore", "BatchdHandlers", "BatchdTestKit"]),
        .testTarget(name: "BatchdEndToEndTests", dependencies: ["BatchdCore", "BatchdTestKit"]),
    ]
)
