import BatchdCore
import BatchdHandlers
import BatchdHTTP
import BatchdTestKit
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// The real HTTP listener on 127.0.0.1 (a port the kernel picks) in front of a real engine and
/// a real history store in a temporary folder, on a manual clock so that every timestamp in an
/// answer is known. Requests go through libcurl (`HTTPClient`), or raw sockets for what no
/// client would send.
final class APIHarness: Sendable {
    static let t0 = Timestamp.parse("2026-11-29T12:00:00.000Z")!
    static let registry = JobTypeRegistry(Array(BuiltInJobTypes.registry.types.values) + [ScriptedJob.self])
    static let token = "s3cret-token"

    let folder: String
    let clock: ManualClock
    let history: JSONLinesHistoryStore
    let engine: Engine
    let state: DaemonState
    let config: BatchConfig
    let bytes: [UInt8]
    let server: HTTPAPIServer
    let port: Int
    private let group: ServiceGroup
    private let groupTask: Task<Void, Never>
    private let engineTask: Task<Void, Never>
    let events: EventWaiter

    static func start(_ yaml: String, records: [RunRecord] = [], environment: [String: String] = ["API_TOKEN": token]) async throws -> APIHarness {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("batchd-api-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let bytes = Array(yaml.utf8)
        let config = try ConfigLoader(registry: registry).load(bytes: bytes, path: "\(folder)/batch.yaml").get()
        let history = try JSONLinesHistoryStore(stateDirectory: config.stateDirectory, settings: config.history)
        try await history.append(records)
        return try await APIHarness(folder: folder, config: config, bytes: bytes, history: history, environment: environment)
    }

    private init(folder: String, config: BatchConfig, bytes: [UInt8], history: JSONLinesHistoryStore, environment: [String: String]) async throws {
        self.folder = folder
        self.config = config
        self.bytes = bytes
        self.history = history
        clock = ManualClock(wall: Self.t0)
        var logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .critical
        engine = Engine(config: config, history: history, clock: clock, logger: logger, environment: [:])
        events = EventWaiter(engine.events.subscribe())
        await engine.prepare()
        let engine = self.engine
        engineTask = Task { await engine.run() }
        state = DaemonState(configPath: "batch.yaml", config: config, bytes: bytes, now: Self.t0)
        let context = DaemonContext(engine: engine, history: history, state: state, logger: logger)
        let frontEnds = await HTTPFrontEnd.make(context, environment: environment)
        server = try #require(frontEnds.first as? HTTPAPIServer)
        group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let group = self.group
        groupTask = Task { try? await group.run() }
        port = try await server.address().port!
    }

    func stop() async {
        await engine.shutdown(grace: .zero)
        await engineTask.value
        await group.triggerGracefulShutdown()
        await groupTask.value
        try? FileManager.default.removeItem(atPath: folder)
    }

    struct Answer {
        var status: Int
        var headers: [(name: String, value: String)]
        var text: String
        var json: JSONValue?

        func header(_ name: String) -> String? {
            headers.first { $0.name == name.lowercased() }?.value
        }
    }

    func request(_ method: String, _ path: String, body: String? = nil, headers: [(name: String, value: String)] = []) async throws -> Answer {
        let response = try await HTTPClient.perform(HTTPRequest(
            method: method, url: "http://127.0.0.1:\(port)\(path)", headers: headers, body: body.map { Array($0.utf8) }
        ))
        return Answer(status: response.status, headers: response.headers, text: response.bodyText, json: try? JSONParser.parse(response.body))
    }

    func get(_ path: String) async throws -> Answer {
        try await request("GET", path)
    }

    func post(_ path: String, _ body: String, token: String? = APIHarness.token) async throws -> Answer {
        try await request("POST", path, body: body, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }
}

/// Awaits engine events in order, so that a test waits for "the run finished" instead of sleeping.
actor EventWaiter {
    private var events: [EngineEvent] = []
    private var cursor = 0
    private var waiter: CheckedContinuation<Void, Never>?

    init(_ stream: AsyncStream<EngineEvent>) {
        Task { await self.feed(stream) }
    }

    private func feed(_ stream: AsyncStream<EngineEvent>) async {
        for await event in stream {
            events.append(event)
            waiter?.resume()
            waiter = nil
        }
    }

    /// The next event that `match` accepts (events before it are passed over).
    func next<T: Sendable>(_ match: @Sendable (EngineEvent) -> T?) async -> T? {
        while true {
            while cursor < events.count {
                let event = events[cursor]
                cursor += 1
                if let value = match(event) { return value }
            }
            await withCheckedContinuation { waiter = $0 }
        }
    }

    func finished(_ job: String) async -> RunRecord? {
        await next { event in
            if case .runFinished(let record) = event, record.jobType == job { return record }
            return nil
        }
    }

    func started(_ job: String) async {
        _ = await next { event in
            if case .runStarted(let name, _, _, _) = event, name == job { return true }
            return nil
        }
    }
}
