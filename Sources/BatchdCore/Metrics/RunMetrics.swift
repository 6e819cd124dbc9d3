import CoreMetrics
import FoundationEssentials
import Glibc
import Synchronization

/// The metrics of SPEC section 7, kept from the engine's events through the swift-metrics API;
/// the factory decides where they go (the HTTP front end gives a Prometheus registry).
///
/// Counters and gauges that follow runs are updated inside `publish` (an `EventBus` observer),
/// so a scrape that follows a "run recorded" log line already counts that run. Next-run times
/// need the scheduler, an actor, so a task refreshes them when the scheduler goes idle.
///
/// The metrics live as long as the daemon: a reload changes jobs, never the counts, and a
/// removed job's counters stay (Prometheus counters must not go backwards).
public final class RunMetrics: Sendable {
    /// Names and help texts, one per metric family.
    public enum Name {
        public static let runs = "batchd_job_runs_total"
        public static let duration = "batchd_job_duration_seconds"
        public static let running = "batchd_job_running"
        public static let lastSuccess = "batchd_job_last_success_timestamp_seconds"
        public static let nextRun = "batchd_job_next_run_timestamp_seconds"
        public static let itemsChecked = "batchd_job_items_checked_total"
        public static let itemsUpdated = "batchd_job_items_updated_total"
        public static let reloads = "batchd_config_reloads_total"
        public static let lastReloadSuccess = "batchd_config_last_reload_success"

        public static let help: [String: String] = [
            runs: "Finished runs by job and status.",
            duration: "How long runs took, by job.",
            running: "1 while the job runs, else 0.",
            lastSuccess: "When the job's last successful run started (Unix time).",
            nextRun: "When the job runs next (Unix time); absent when nothing is planned.",
            itemsChecked: "Items the job's runs checked (images, apps, ...).",
            itemsUpdated: "Items the job's runs found updated.",
            reloads: "Reloads of batch.yaml by result (success: applied or unchanged; failure: refused).",
            lastReloadSuccess: "1 when the last reload of batch.yaml was applied, 0 when it was refused.",
        ]

        /// Run durations span milliseconds (an HTTP ping) to hours (a backup).
        public static let durationBuckets: [Duration] = [
            .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5),
            .seconds(15), .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(1800), .seconds(3600),
            .seconds(7200), .seconds(14_400),
        ]
    }

    private struct Series {
        var runs: [String: Counter] = [:]  // "job\0status"
        var duration: [String: CoreMetrics.Timer] = [:]
        var running: [String: Gauge] = [:]
        var lastSuccess: [String: Gauge] = [:]
        var nextRun: [String: Gauge] = [:]
        var itemsChecked: [String: Counter] = [:]
        var itemsUpdated: [String: Counter] = [:]
        var reloads: [String: Counter] = [:]
    }

    private let factory: any MetricsFactory
    private let series = Mutex(Series())
    private let lastReloadSuccess: Gauge
    private let nextRunsStale = WakeSignal()
    private let refresher = Mutex<Task<Void, Never>?>(nil)

    /// Metrics for the jobs of `jobs` (each starts at zero) over the engine's events.
    public init(factory: any MetricsFactory, engine: Engine, history: any HistoryStore, jobs: @escaping @Sendable () -> [String]) async {
        self.factory = factory
        lastReloadSuccess = Gauge(label: Name.lastReloadSuccess, dimensions: [], factory: factory)
        lastReloadSuccess.record(1)
        for result in ["success", "failure"] { _ = reloadCounter(result) }
        for job in jobs() {
            prepare(job)
            if let success = try? await history.lastSuccess(job: job) {
                gauge(\.lastSuccess, Name.lastSuccess, job).record(success.timeIntervalSince1970)
            }
        }
        engine.events.observe { [weak self] event in self?.observe(event, jobs: jobs) }
        let stale = nextRunsStale
        refresher.withLock { task in
            task = Task { [weak self] in
                while !Task.isCancelled {
                    let times = await engine.nextRunTimes()
                    self?.refreshNextRuns(times)
                    await stale.wait()
                }
            }
        }
    }

    deinit {
        refresher.withLock { $0?.cancel() }
    }

    /// Every series of `job` exists from the start, at zero, so that `rate()` and alerts see
    /// the first run instead of a series appearing out of nowhere.
    private func prepare(_ job: String) {
        for status in RunStatus.allCases { _ = runCounter(job, status) }
        _ = counter(\.itemsChecked, Name.itemsChecked, job)
        _ = counter(\.itemsUpdated, Name.itemsUpdated, job)
        _ = timer(job)
        gauge(\.running, Name.running, job).record(0)
    }

    private func observe(_ event: EngineEvent, jobs: @Sendable () -> [String]) {
        switch event {
        case .runStarted(let job, _, _, _):
            gauge(\.running, Name.running, job).record(1)
        case .runFinished(let record):
            runCounter(record.jobType, record.status).increment()
            timer(record.jobType).recordMilliseconds(record.durationMs)
            counter(\.itemsChecked, Name.itemsChecked, record.jobType).increment(by: record.itemsChecked)
            counter(\.itemsUpdated, Name.itemsUpdated, record.jobType).increment(by: record.itemsUpdated)
            gauge(\.running, Name.running, record.jobType).record(0)
            nextRunsStale.signal()  // its next run is planned (the scheduler may not wake for it)
            if record.status == .completed {
                gauge(\.lastSuccess, Name.lastSuccess, record.jobType).record(record.startedAt.timeIntervalSince1970)
            }
        case .reloaded(let ok, _):
            reloadCounter(ok ? "success" : "failure").increment()
            lastReloadSuccess.record(ok ? 1 : 0)
            if ok { jobs().forEach(prepare) }
            nextRunsStale.signal()
        case .schedulerIdle:
            nextRunsStale.signal()
        case .recordFailed:
            break
        }
    }

    private func refreshNextRuns(_ times: [String: Date?]) {
        let removed: [Gauge] = series.withLock { series in
            var gone: [Gauge] = []
            for (job, gauge) in series.nextRun where (times[job] ?? nil) == nil {
                gone.append(gauge)
                series.nextRun[job] = nil
            }
            return gone
        }
        removed.forEach { $0.destroy() }
        for case let (job, time?) in times {
            gauge(\.nextRun, Name.nextRun, job).record(time.timeIntervalSince1970)
        }
    }

    // MARK: Series, made once each

    private func runCounter(_ job: String, _ status: RunStatus) -> Counter {
        let key = "\(job)\u{0}\(status.rawValue)"
        return series.withLock { series in
            if let existing = series.runs[key] { return existing }
            let made = Counter(label: Name.runs, dimensions: [("job", job), ("status", status.rawValue)], factory: factory)
            series.runs[key] = made
            return made
        }
    }

    private func reloadCounter(_ result: String) -> Counter {
        series.withLock { series in
            if let existing = series.reloads[result] { return existing }
            let made = Counter(label: Name.reloads, dimensions: [("result", result)], factory: factory)
            series.reloads[result] = made
            return made
        }
    }

    private func counter(_ path: WritableKeyPath<Series, [String: Counter]>, _ name: String, _ job: String) -> Counter {
        series.withLock { series in
            if let existing = series[keyPath: path][job] { return existing }
            let made = Counter(label: name, dimensions: [("job", job)], factory: factory)
            series[keyPath: path][job] = made
            return made
        }
    }

    private func gauge(_ path: WritableKeyPath<Series, [String: Gauge]>, _ name: String, _ job: String) -> Gauge {
        series.withLock { series in
            if let existing = series[keyPath: path][job] { return existing }
            let made = Gauge(label: name, dimensions: [("job", job)], factory: factory)
            series[keyPath: path][job] = made
            return made
        }
    }

    private func timer(_ job: String) -> CoreMetrics.Timer {
        series.withLock { series in
            if let existing = series.duration[job] { return existing }
            let made = CoreMetrics.Timer(label: Name.duration, dimensions: [("job", job)], factory: factory)
            series.duration[job] = made
            return made
        }
    }
}
