// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "batchd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "batchd", targets: ["batchd"]),
        .library(name: "BatchdCore", targets: ["BatchdCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The system libyaml (Debian libyaml-dev), seen through a one-line shim header.
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // Configuration model, YAML loading, validation and schedules: everything that is pure data.
        .target(name: "BatchdCore", dependencies: ["CYAML"]),
        // The built-in job types: each one file, listed once in BuiltInJobTypes.swift.
        .target(name: "BatchdHandlers", dependencies: ["BatchdCore"]),
        // The command line: one file per subcommand; wiring only.
        .executableTarget(
            name: "batchd",
            dependencies: [
                "BatchdCore",
                "BatchdHandlers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "BatchdCoreTests", dependencies: ["BatchdCore", "BatchdHandlers"]),
        .testTarget(name: "BatchdEndToEndTests", dependencies: ["BatchdCore"]),
    ]
)
