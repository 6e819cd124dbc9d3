import BatchdCore
import FoundationEssentials
import Glibc
import NIOCore
import NIOHTTP1

/// The endpoints of SPEC section 5, with the seed's JSON shapes, independent of sockets: the
/// server hands it whole requests; tests can too.
///
/// `route` answers at once where it can (cached answers, errors) so that the event loop writes
/// them without a hop through Swift concurrency, and returns work to await otherwise.
public final class BatchAPI: Sendable {
    public enum Routed: Sendable {
        case now(APIResponse)
        case later(@Sendable () async -> APIResponse)
    }

    static let maximumRunsLimit = 1_000
    static let defaultRunsLimit = 50

    private let context: DaemonContext
    private let cache: StatusCache
    private let token: BearerToken?
    private let metrics: PrometheusExporter

    init(context: DaemonContext, token: BearerToken?, metrics: PrometheusExporter) {
        self.context = context
        cache = StatusCache(context: context)
        self.token = token
        self.metrics = metrics
    }

    /// Whether POST trigger and cancel are unlocked (`http.tokenEnv` names a set variable).
    var writeEndpointsEnabled: Bool { token != nil }

    /// Every path the API knows, with the methods each allows (HEAD goes with GET).
    private enum Endpoint {
        case config, status, runs, latestRun, run(String), trigger, cancel, health, metrics

        init?(path: String) {
            switch path {
            case "/api/batch/config": self = .config
            case "/api/batch/status": self = .status
            case "/api/batch/runs": self = .runs
            case "/api/batch/runs/latest": self = .latestRun
            case "/api/batch/trigger": self = .trigger
            case "/api/batch/cancel": self = .cancel
            case "/healthz": self = .health
            case "/metrics": self = .metrics
            default:
                let prefix = "/api/batch/runs/"
                guard path.hasPrefix(prefix), path.count > prefix.count, !path.dropFirst(prefix.count).contains("/") else { return nil }
                self = .run(String(path.dropFirst(prefix.count)))
            }
        }

        var methods: [HTTPMethod] {
            switch self {
            case .trigger, .cancel: [.POST]
            default: [.GET, .HEAD]
            }
        }
    }

    public func route(_ request: APIRequest) -> Routed {
        let path = request.path.count > 1 && request.path.hasSuffix("/") ? String(request.path.dropLast()) : request.path
        guard let endpoint = Endpoint(path: path) else {
            return .now(.failure(.notFound, "no such endpoint: \(request.method.rawValue) \(Self.printable(request.path)); see GET /api/batch/status"))
        }
        guard endpoint.methods.contains(request.method) else {
            let allowed = endpoint.methods.map(\.rawValue).joined(separator: ", ")
            if case .config = endpoint, request.method == .POST {
                return .now(.failure(.methodNotAllowed, "the configuration is batch.yaml: edit the file and batchd reloads it (GET shows the running configuration)",
                                     headers: [("Allow", allowed)]))
            }
            return .now(.failure(.methodNotAllowed, "\(request.method.rawValue) is not allowed here; use \(allowed)", headers: [("Allow", allowed)]))
        }
        switch endpoint {
        case .status: return cached(\.status)
        case .config: return cached(\.config)
        case .latestRun:
            switch request.query["byJobType"] {
            case nil, "false": return cached(\.latest)
            case "true": return cached(\.latestByJob)
            case let other?: return .now(.failure(.badRequest, "byJobType must be true or false (got '\(Self.printable(other))')"))
            }
        case .runs: return runs(request.query)
        case .run(let text): return run(id: text)
        case .trigger: return control(request, verb: "trigger")
        case .cancel: return control(request, verb: "cancel")
        case .health:
            let engine = context.engine
            return .later {
                await engine.isSchedulerRunning
                    ? .success([("status", .string("ok"))])
                    : .failure(.serviceUnavailable, "the scheduler is not running")
            }
        case .metrics:
            let metrics = self.metrics
            return .now(metrics.response())
        }
    }

    /// The answer, awaiting it when `route` could not answer at once (for tests).
    public func respond(to request: APIRequest) async -> APIResponse {
        switch route(request) {
        case .now(let response): return response
        case .later(let work): return await work()
        }
    }

    private func cached(_ answer: KeyPath<StatusAnswers, APIResponse> & Sendable) -> Routed {
        if let current = cache.current() { return .now(current[keyPath: answer]) }
        let cache = self.cache
        return .later { await cache.fresh()[keyPath: answer] }
    }

    // MARK: History

    private func runs(_ query: [String: String]) -> Routed {
        var limit = Self.defaultRunsLimit
        if let text = query["limit"] {
            guard let value = Int(text), (1...Self.maximumRunsLimit).contains(value) else {
                return .now(.failure(.badRequest, "limit must be a whole number from 1 to \(Self.maximumRunsLimit) (got '\(Self.printable(text))')"))
            }
            limit = value
        }
        var status: RunStatus?
        if let text = query["status"] {
            guard let value = RunStatus(rawValue: text) else {
                let known = RunStatus.allCases.map(\.rawValue).joined(separator: ", ")
                return .now(.failure(.badRequest, "status must be one of \(known) (got '\(Self.printable(text))')"))
            }
            status = value
        }
        let job = query["jobType"]
        if let job, !JobName.isValid(job) {
            return .now(.failure(.badRequest, "jobType '\(Self.printable(job))' is not a job name"))
        }
        let history = context.history, logger = context.logger
        let wanted = (limit: limit, status: status)
        return .later {
            do {
                let runs = try await history.newest(limit: wanted.limit, job: job, status: wanted.status)
                return .success([("runs", .array(runs.map(\.json)))])
            } catch {
                logger.error("GET /api/batch/runs: cannot read the history: \(error)")
                return .failure(.internalServerError, "the history cannot be read right now; the daemon's log says why")
            }
        }
    }

    private func run(id text: String) -> Routed {
        guard let id = Int64(text), id > 0 else {
            return .now(.failure(.badRequest, "a run id is a positive whole number (got '\(Self.printable(text))')"))
        }
        let history = context.history, logger = context.logger
        return .later {
            do {
                guard let run = try await history.run(id: id) else { return .failure(.notFound, "no run with id \(id)") }
                return .success([("run", run.json)])
            } catch {
                logger.error("GET /api/batch/runs/\(id): cannot read the history: \(error)")
                return .failure(.internalServerError, "the history cannot be read right now; the daemon's log says why")
            }
        }
    }

    // MARK: Trigger and cancel

    private func control(_ request: APIRequest, verb: String) -> Routed {
        guard let token else {
            return .now(.failure(.unauthorized, "\(verb) over HTTP is disabled: set http.tokenEnv in batch.yaml to a variable holding a token (batchd \(verb) JOB works without it)",
                                 headers: [("WWW-Authenticate", "Bearer")]))
        }
        guard token.accepts(request.headers) else {
            return .now(.failure(.unauthorized, "missing or wrong token: send Authorization: Bearer <token>",
                                 headers: [("WWW-Authenticate", #"Bearer error="invalid_token""#)]))
        }
        guard var body = request.body, let bytes = body.readBytes(length: body.readableBytes),
              let parsed = try? JSONParser.parse(bytes), case .object = parsed else {
            return .now(.failure(.badRequest, #"the body must be a JSON object such as {"jobType": "docker-hub-pull"}"#))
        }
        guard let job = parsed["jobType"]?.stringValue else {
            return .now(.failure(.badRequest, #"the body needs "jobType": the name of a job in batch.yaml"#))
        }
        guard context.state.config.job(named: job) != nil else {
            return .now(.failure(.notFound, "unknown job '\(Self.printable(job))'"))
        }
        let engine = context.engine
        if verb == "cancel" {
            return .later {
                await engine.cancel(job)
                    ? .success([("message", .string("Job \(job) is being cancelled."))])
                    : .failure(.conflict, "\(job) is not running")
            }
        }
        return .later {
            let outcome = await engine.trigger(job)
            switch outcome {
            case .started, .waiting, .queued:
                return .success([("message", .string("Job \(job) triggered successfully (\(outcome.message)). Check batch logs for execution details."))])
            case .alreadyRunning: return .failure(.conflict, "\(job) is already running")
            case .unknownJob: return .failure(.notFound, "unknown job '\(job)'")
            case .shuttingDown: return .failure(.serviceUnavailable, "batchd is shutting down")
            }
        }
    }

    /// Request text echoed in an error, cut short and without control characters.
    static func printable(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
        return cleaned.count > 100 ? cleaned.prefix(100) + "…" : cleaned
    }
}
