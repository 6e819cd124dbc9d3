import Logging
import ServiceLifecycle

/// Something the daemon runs beside the engine to answer the outside world (the HTTP API): a
/// `Service` of the daemon's `ServiceGroup`, so it stops with the rest.
///
/// Contract: `run()` serves until graceful shutdown is triggered and then returns; `ready()`
/// returns once it accepts requests (its socket is bound) or throws why it cannot, so that a
/// daemon that cannot listen fails at start with a clear error instead of running deaf.
public protocol DaemonFrontEnd: Service {
    func ready() async throws
}

/// What a front end is built from: the running engine, the history, the running configuration.
public struct DaemonContext: Sendable {
    public let engine: Engine
    public let history: JSONLinesHistoryStore
    public let state: DaemonState
    public let logger: Logger

    public init(engine: Engine, history: JSONLinesHistoryStore, state: DaemonState, logger: Logger) {
        self.engine = engine
        self.history = history
        self.state = state
        self.logger = logger
    }

    public var statusBuilder: StatusBuilder {
        StatusBuilder(engine: engine, history: history, state: state)
    }
}
