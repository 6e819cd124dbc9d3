import Foundation
import Logging

/// `batchd run`: the engine plus everything around it that a long-running process needs: the
/// state lock, history recovery, the control socket, signals, reloads and status.json.
public final class Daemon: @unchecked Sendable {  // mutable state is confined to `run()`'s task
    private let configPath: String
    private let loader: ConfigLoader
    private var config: BatchConfig
    private var configBytes: [UInt8]
    private let logger: Logger
    private let startedAt = Date()
    private var loadedAt = Date()
    private var lastReload: DaemonStatus.Reload?

    public init(configPath: String, config: BatchConfig, bytes: [UInt8], loader: ConfigLoader, logger: Logger) {
        self.configPath = configPath
        self.config = config
        self.configBytes = bytes
        self.loader = loader
        self.logger = logger
    }

    private enum Request: Sendable {
        case signal(Int32)
        case fileChanged
    }

    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully. Throws only when it cannot start.
    /// The caller must have called `SignalEvents.blockEarly()` before starting any thread.
    public func run() async throws(StartError) {
        _ = HTTPClient.globalInit  // before any thread uses curl
        let lock: StateLock
        let history: JSONLinesHistoryStore
        do {
            lock = try StateLock(stateDirectory: config.stateDirectory)
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

        logger.info("batchd \(BatchdInfo.version) started", metadata: [
            "config": "\(configPath)", "jobs": "\(config.jobs.count)", "enabled": "\(config.jobs.filter(\.enabled).count)",
            "stateDir": "\(config.stateDirectory)", "pid": "\(getpid())",
        ])
        let statusWriter = Task { await writeStatusOnChange(engine: engine, history: history) }
        let engineTask = Task { await engine.run() }

        for await next in requests {
            switch next {
            case .fileChanged:
                await reload(engine: engine, reason: "file changed")
                continue
            case .signal(SIGHUP):
                await reload(engine: engine, reason: "SIGHUP")
                continue
            case .signal(let signal):
                logger.info("\(signal == SIGTERM ? "SIGTERM" : "SIGINT"): shutting down (grace \(DurationText.format(config.shutdownGrace)))")
            }
            break
        }
        control.stop()
        await engine.shutdown(grace: config.shutdownGrace)
        await engineTask.value
        statusWriter.cancel()
        await writeStatus(engine: engine, history: history)
        logger.info("stopped; every run is recorded")
        withExtendedLifetime((lock, watcher)) {}
    }

    /// Re-reads batch.yaml; a valid file is applied at once, an invalid one changes nothing.
    func reload(engine: Engine, reason: String) async {
        switch loader.load(path: configPath) {
        case .valid(var newConfig, let bytes):
            guard bytes != configBytes else {
                if lastReload?.ok == false {
                    // Back to the running configuration after a refused one: nothing to apply.
                    lastReload = .init(at: Date(), ok: true, errors: [])
                    logger.info("reload (\(reason)): the file is back to the running configuration")
                    engine.events.publish(.reloaded(ok: true, summary: "unchanged"))
                } else if reason == "SIGHUP" {
                    logger.info("reload (\(reason)): the file is unchanged")
                } else {
                    logger.debug("reload (\(reason)): the file is unchanged")
                }
                return
            }
            let summary = ConfigChanges(old: config, new: newConfig).summary
            newConfig.stateDirectory = config.stateDirectory  // these two need a restart; said in the summary
            newConfig.http = config.http
            config = newConfig
            configBytes = bytes
            loadedAt = Date()
            lastReload = .init(at: loadedAt, ok: true, errors: [])
            await engine.apply(newConfig)
            logger.info("reload (\(reason)): \(summary)")
            engine.events.publish(.reloaded(ok: true, summary: summary))
        case .invalid(let invalid, _):
            lastReload = .init(at: Date(), ok: false, errors: invalid.diagnostics.map(\.description))
            for diagnostic in invalid.diagnostics {
                logger.error("reload (\(reason)) refused: \(diagnostic)")
            }
            logger.error("reload (\(reason)) refused: the previous configuration keeps running")
            engine.events.publish(.reloaded(ok: false, summary: "\(invalid.diagnostics.count) error(s)"))
        case .unreadable(let error):
            lastReload = .init(at: Date(), ok: false, errors: [error.description])
            logger.error("reload (\(reason)) refused: \(error); the previous configuration keeps running")
            engine.events.publish(.reloaded(ok: false, summary: error.description))
        }
    }

    /// Rewrites status.json after changes. Events only mark it stale: a burst of them (twenty
    /// runs starting at one instant) costs one rewrite, not twenty, each querying every job.
    private func writeStatusOnChange(engine: Engine, history: JSONLinesHistoryStore) async {
        let stale = WakeSignal()
        let events = engine.events.subscribe()
        let listener = Task {
            for await event in events {
                if case .recordFailed = event { continue }
                stale.signal()
            }
        }
        defer { listener.cancel() }
        await writeStatus(engine: engine, history: history)
        while !Task.isCancelled {
            await stale.wait()
            guard !Task.isCancelled else { break }
            await writeStatus(engine: engine, history: history)
        }
    }

    private func writeStatus(engine: Engine, history: JSONLinesHistoryStore) async {
        let running = Set(await engine.runningJobs())
        let next = await engine.nextRunTimes()
        var jobs: [DaemonStatus.Job] = []
        for job in config.jobs {
            jobs.append(DaemonStatus.Job(
                name: job.name, type: job.type, displayName: job.displayName, enabled: job.enabled,
                schedule: job.schedule?.summary, running: running.contains(job.name),
                lastRun: try? await history.latest(job: job.name),
                lastSuccess: (try? await history.lastSuccess(job: job.name)) ?? nil,
                nextRun: next[job.name] ?? nil
            ))
        }
        let status = DaemonStatus(
            pid: getpid(), startedAt: startedAt, updatedAt: Date(), configPath: configPath,
            configHash: ConfigHash.of(configBytes), loadedAt: loadedAt, lastReload: lastReload,
            schedulerRunning: await engine.isSchedulerRunning, jobs: jobs
        )
        do {
            try AtomicFile.write(Array((JSONWriter.string(status.json) + "\n").utf8), to: "\(config.stateDirectory)/status.json", sync: false)
        } catch {
            logger.warning("cannot write status.json: \(error)")
        }
    }
}
