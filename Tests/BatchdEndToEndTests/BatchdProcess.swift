import BatchdTestKit
import Foundation
import Testing

/// Runs the built `batchd` binary, as a user or a CI job would, and collects what it printed.
struct BatchdProcess {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `$BATCHD_BINARY` (the Makefile points it at the release build), else the debug binary
    /// next to the test bundle in SwiftPM's build folder.
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["BATCHD_BINARY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("batchd")
    }

    static func run(_ arguments: [String], in directory: URL? = nil, environment extra: [String: String] = [:]) throws -> Outcome {
        var environment = ProcessInfo.processInfo.environment
        environment["BATCHD_CONFIG"] = nil
        environment.merge(extra) { _, new in new }
        return try runTool(binary.path, arguments, in: directory, environment: environment)
    }
}

extension BatchdProcess {
    /// Runs another program (promtool, jq, systemd-analyze) with `stdin` as its input. Output
    /// goes to files rather than pipes: a chatty child can never block on a full pipe.
    static func runTool(_ path: String, _ arguments: [String], stdin: URL? = nil, in directory: URL? = nil,
                        environment: [String: String]? = nil) throws -> Outcome {
        let folder = try TemporaryFolder()
        let stdoutURL = folder.url.appendingPathComponent("stdout"), stderrURL = folder.url.appendingPathComponent("stderr")
        let process = try Subprocess(path, arguments, environment: environment, directory: directory?.path,
                                     stdin: stdin.map { .file($0.path) } ?? .null,
                                     stdout: .file(stdoutURL.path), stderr: .file(stderrURL.path))
        return Outcome(
            status: process.wait(),
            stdout: try String(contentsOf: stdoutURL, encoding: .utf8),
            stderr: try String(contentsOf: stderrURL, encoding: .utf8)
        )
    }
}

/// A fresh temporary folder per test, removed afterwards.
final class TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("batchd-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> URL {
        let file = url.appendingPathComponent(name)
        try text.write(to: file, atomically: false, encoding: .utf8)
        return file
    }
}
