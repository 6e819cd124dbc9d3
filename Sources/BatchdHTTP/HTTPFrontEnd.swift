import BatchdCore
import FoundationEssentials
import Glibc

/// Builds the daemon's HTTP front end from `http:` in batch.yaml: the API, the metrics and the
/// listener. None when the section is absent.
public enum HTTPFrontEnd {
    public static func make(_ context: DaemonContext,
                            environment: [String: String] = ProcessInfo.processInfo.environment) async -> [any DaemonFrontEnd] {
        guard let settings = context.state.config.http else { return [] }
        let token = BearerToken(variable: settings.tokenEnv, environment: environment)
        if let variable = settings.tokenEnv, token == nil {
            context.logger.warning("http.tokenEnv names \(variable), which is not set (or empty): POST trigger and cancel answer 401")
        }
        if !settings.isLoopback {
            context.logger.warning("http.listen is \(settings.host):\(settings.port), not a loopback address: anyone who can reach it can read the status, configuration and history\(token == nil ? "" : "; trigger and cancel need the token")")
        }
        let exporter = PrometheusExporter()
        let state = context.state
        let metrics = await RunMetrics(factory: exporter, engine: context.engine, history: context.history) {
            state.config.jobs.map(\.name)
        }
        let api = BatchAPI(context: context, token: token, metrics: exporter)
        return [HTTPAPIServer(settings: settings, api: api, logger: context.logger, keepAlive: metrics,
                              pageRelease: RequestPageRelease(statusBuilder: context.statusBuilder))]
    }
}
