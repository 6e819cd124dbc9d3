import FoundationEssentials
import Glibc
import Logging
import ServiceLifecycle

/// `batchd run`: the engine plus everything around it that a long-running process needs: the
/// state lock, history recovery, the control socket, signals, reloads, status.json, and the
/// front ends (the HTTP API) as services of one `ServiceGroup`.
public final class Daemon: Sendable {
    private let configPath: String
    private let loader: ConfigLoader
    private let state: DaemonState
    private let logger: Logger
    private let makeFrontEnds: FrontEndFactory

    /// Builds the front ends once the engine and history are open (none: no HTTP listener).
    public typealias FrontEndFactory = @Sendable (DaemonContext) async throws -> [any DaemonFrontEnd]

    public init(configPath: String, config: BatchConfig, bytes: [UInt8], loader: ConfigLoader, logger: Logger,
                frontEnds: @escaping FrontEndFactory = { _ in [] }) {
        self.configPath = configPath
        state = DaemonState(configPath: configPath, config: config, bytes: bytes)
        self.loader = loader
        self.logger = logger
        makeFrontEnds = frontEnds
    }

    private var config: BatchConfig { state.config }

    private enum Request: Sendable {
        case signal(Int32)
        case fileChanged
        case wallClockSet
    }

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully. Throws only when it cannot start.
    /// The caller must have called `SignalEvents.blockEarly()` before starting any thread.
    public func run() async throws(StartError) {
        let lock: StateLock
        let history: JSONLinesHistoryStore
        do {
            lock = try StateLock(stateDirectory: config.stateDirectory)
            DescriptorBudget.claimForDaemon()
            history = try JSONLinesHistoryStore(stateDirectory: config.stateDirectory, settings: config.history, waitForOwnership: true)
        } catch {
            throw StartError(description: error.description)
        }
        let recovery = await history.recovery
        for torn in recovery.tornLines {
            logger.warning("cut off a torn last line (\(torn.bytesCut) bytes) of \(torn.file): a write was interrupted by a crash")
        }
        for rebuilt in recovery.rebuiltIndexes {
            logger.warning("rebuilt the history index of \(rebuilt.job): \(rebuilt.reason)")
        }
        for unreadable in recovery.unreadableLines {
            logger.warning("\(unreadable.count) line(s) of \(unreadable.file) are not run records and were left out of the index")
        }
        do {
            for run in try await history.recoverInterruptedRuns(now: Date()) {
                logger.warning("run \(run.id) was in progress when batchd stopped: recorded as interrupted", metadata: ["job": "\(run.jobType)", "run": "\(run.id)"])
            }
        } catch {
            logger.error("cannot record interrupted runs: \(error)")
        }
        OrphanReaper.becomeSubreaper()
        let engine = Engine(config: config, history: history, logger: logger)
        await engine.prepare()
        let context = DaemonContext(engine: engine, history: history, state: state, logger: logger)
        let frontEnds: FrontEndGroup
        do {
            frontEnds = try await FrontEndGroup.start(try await makeFrontEnds(context), logger: logger)
        } catch {
            await engine.shutdown(grace: .zero)
            throw StartError(description: "\(error)")
        }
        let control: ControlSocketServer
        do {
            control = try ControlSocketServer(path: "\(config.stateDirectory)/control.sock") { verb, job in
                if verb == "cancel" {
                    return await engine.cancel(job) ? (true, "cancelling \(job)") : (false, "\(job) is not running")
                }
                let outcome = await engine.trigger(job)
                return (outcome.accepted, "\(job): \(outcome.message)")
            }
        } catch {
            throw StartError(description: error.description)
        }
        control.start()
        // One path for everything from outside: signals and changes of batch.yaml. The watcher
        // is in place before "started" is said, so no save after that line goes unseen.
        let (requests, request) = AsyncStream<Request>.makeStream()
        SignalEvents.forward(SignalEvents.daemonSignals) { request.yield(.signal($0)) }
        let watcher = ConfigWatcher(path: configPath) { request.yield(.fileChanged) }
        if watcher == nil { logger.warning("cannot watch \(configPath) for changes (inotify); SIGHUP still reloads it") }
        if !WallClockWatcher.start(onSet: { request.yield(.wallClockSet) }) {
            logger.warning("cannot watch the wall clock for changes (timerfd): after the clock is set, cron jobs keep the old clock's times until their next run")
        }

        logger.info("batchd \(BatchdInfo.version) started", metadata: [
            "config": "\(configPath)", "jobs": "\(config.jobs.count)", "enabled": "\(config.jobs.filter(\.enabled).count)",
            "stateDir": "\(config.stateDirectory)", "pid": "\(getpid())",
        ])
        let statusFile = StatusFileWriter(builder: StatusBuilder(engine: engine, history: history, state: state),
                                          stateDirectory: config.stateDirectory, logger: logger)
        let statusWriter = Task { await statusFile.run() }
        let running = self.state
        let notifications = NotificationService(history: history, notifier: WebhookNotifier(logger: logger)) { running.config.job(named: $0) }
        let finishedRuns = engine.events.subscribe { event in
            guard case .runFinished(let record) = event else { return false }
            return running.config.job(named: record.jobType)?.notify != nil
        }
        let notifying = Task { await notifications.run(finishedRuns) }
        let engineTask = Task { await engine.run() }

        for await next in requests {
            switch next {
            case .fileChanged:
                await reload(engine: engine, status: statusFile, reason: "file changed")
                continue
            case .wallClockSet:
                await engine.wallClockChanged()
                continue
            case .signal(SIGHUP):
                await reload(engine: engine, status: statusFile, reason: "SIGHUP")
                continue
            case .signal(let signal):
                logger.info("\(signal == SIGTERM ? "SIGTERM" : "SIGINT"): shutting down (grace \(DurationText.format(config.shutdownGrace)))")
            }
            break
        }
        control.stop()
        await engine.shutdown(grace: config.shutdownGrace)
        await engineTask.value
        // The front ends answer while running jobs drain (status stays visible), then stop.
        await frontEnds.stop()
        // Notifications under way are delivered (each bounded by its timeout and one retry).
        engine.events.finish()
        await notifying.value
        statusWriter.cancel()
        await statusWriter.value
        await statusFile.write()
        logger.info("stopped; every run is recorded")
        withExtendedLifetime((lock, watcher)) {}
    }

    /// Re-reads batch.yaml; a valid file is applied at once, an invalid one changes nothing.
    ///
    /// A change reported by the watcher while the running configuration is the file's last good
    /// one is not parsed when the bytes are the same: most events in batch.yaml's folder are
    /// about other files. SIGHUP always parses (whoever sends it wants the file checked).
    func reload(engine: Engine, status: StatusFileWriter, reason: String) async {
        let running = state.snapshot
        let outcome: ConfigLoader.Outcome
        if reason != "SIGHUP", running.lastReload?.ok != false {
            guard let changed = loader.load(path: configPath, unlessItHolds: running.bytes) else {
                logger.debug("reload (\(reason)): the file is unchanged (not parsed again)")
                return
            }
            outcome = changed
        } else {
            outcome = loader.load(path: configPath)
        }
        switch outcome {
        case .valid(var newConfig, let bytes):
            guard bytes != running.bytes else {
                if running.lastReload?.ok == false {
                    // Back to the running configuration after a refused one: nothing to apply.
                    state.update { $0.lastReload = .init(at: Date(), ok: true, errors: []) }
                    engine.events.publish(.reloaded(ok: true, summary: "unchanged"))
                    await status.flush()
                    logger.info("reload (\(reason)): the file is back to the running configuration")
                } else {
                    // Only SIGHUP comes here: a watcher's event on unchanged bytes stopped above.
                    logger.info("reload (\(reason)): the file is unchanged")
                }
                return
            }
            let summary = ConfigChanges(old: running.config, new: newConfig).summary
            newConfig.stateDirectory = running.config.stateDirectory  // these two need a restart; said in the summary
            newConfig.http = running.config.http
            let now = Date()
            state.update { current in
                current.config = newConfig
                current.bytes = bytes
                current.hash = ConfigHash.of(bytes)
                current.loadedAt = now
                current.lastReload = .init(at: now, ok: true, errors: [])
            }
            await engine.apply(newConfig)
            engine.events.publish(.reloaded(ok: true, summary: summary))
            await status.flush()  // the log line is the signal people and tests wait for
            logger.info("reload (\(reason)): \(summary)")  // and StatusFileWriter gives the reload's memory back
        case .invalid(let invalid, _):
            state.update { $0.lastReload = .init(at: Date(), ok: false, errors: invalid.diagnostics.map(\.description)) }
            engine.events.publish(.reloaded(ok: false, summary: "\(invalid.diagnostics.count) error(s)"))
            await status.flush()
            for diagnostic in invalid.diagnostics {
                logger.error("reload (\(reason)) refused: \(diagnostic)")
            }
            logger.error("reload (\(reason)) refused: the previous configuration keeps running")
        case .unreadable(let error):
            state.update { $0.lastReload = .init(at: Date(), ok: false, errors: [error.description]) }
            engine.events.publish(.reloaded(ok: false, summary: error.description))
            await status.flush()
            logger.error("reload (\(reason)) refused: \(error); the previous configuration keeps running")
        }
    }

}
