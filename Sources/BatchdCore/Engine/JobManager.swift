import FoundationEssentials
import Glibc
import Logging

/// Runs jobs: never two runs of one job at once, at most `capacity` runs in all, waiting runs
/// started by priority then due time, every finished run recorded. It decides nothing about
/// time; the scheduler asks it to run a job and hears back when the run has finished.
actor JobManager {
    struct Request: Sendable {
        var job: JobConfig
        var trigger: RunTrigger
        var attempt: Int
        /// When the run was due; orders the waiting line after priority.
        var dueAt: ContinuousClock.Instant
    }

    enum Admission: Sendable, Equatable {
        case started
        /// Due, but `maxConcurrentJobs` runs are going; it starts when a slot frees.
        case waiting
        /// `overlap: queue`: it runs once more after the current run.
        case queuedAfterCurrent
        case alreadyRunning
        case alreadyWaiting
        case shuttingDown
    }

    struct Completion: Sendable {
        var record: RunRecord
        var retryNotBefore: Date?
    }

    private struct Running {
        var task: Task<Void, Never>
        var stopper: RunStopper
        var request: Request
    }

    private enum State {
        case accepting
        case draining
    }

    private var capacity: Int
    private let runner: JobRunner
    private let history: any HistoryStore
    private let events: EventBus
    private let logger: Logger
    private var onFinish: (@Sendable (Completion) async -> Void)?
    private var state = State.accepting
    private var running: [String: Running] = [:]
    /// Due runs waiting for a slot, started by priority, then due time, then arrival.
    private var waiting = WaitingLine()
    private var queuedAgain: [String: Request] = [:]
    /// Finished runs that could not be written yet (disk full, ...), oldest first: written before
    /// the next record, so that when space returns no run is lost.
    private var unrecorded: [RunRecord] = []
    private var flushing = false
    /// Runs whose `runFinished` went out while they waited to be written.
    private var announced: Set<Int64> = []

    init(capacity: Int, runner: JobRunner, history: any HistoryStore, events: EventBus, logger: Logger) {
        self.capacity = capacity
        self.runner = runner
        self.history = history
        self.events = events
        self.logger = logger
    }

    /// Where finished runs are reported (the scheduler); set once before the first run.
    func setCompletionHandler(_ handler: @escaping @Sendable (Completion) async -> Void) {
        onFinish = handler
    }

    func setCapacity(_ newCapacity: Int) {
        capacity = newCapacity
        startWaiting()
    }

    var runningJobs: [String] { running.keys.sorted() }

    /// Admits each request in order; one call for everything due at one instant.
    ///
    /// The runs that must wait for a slot are logged in one line: ten thousand jobs due at
    /// midnight with `maxConcurrentJobs: 64` are one event, not ten thousand lines.
    func submit(_ requests: [Request]) -> [Admission] {
        let admissions = requests.map(submit)
        let waiting = zip(requests, admissions).filter { $0.1 == .waiting }.map(\.0.job.name)
        if waiting.count == 1 {
            logger.info("waiting for a free slot (\(running.count) of \(capacity) running)", metadata: ["job": "\(waiting[0])"])
        } else if waiting.count > 1 {
            let shown = waiting.prefix(5).joined(separator: ", ")
            let more = waiting.count > 5 ? " and \(waiting.count - 5) more" : ""
            logger.info("\(waiting.count) runs waiting for a free slot (\(running.count) of \(capacity) running): \(shown)\(more)")
        }
        return admissions
    }

    private func submit(_ request: Request) -> Admission {
        let name = request.job.name
        guard state == .accepting else { return .shuttingDown }
        if running[name] != nil {
            guard request.job.overlap == .queue else { return .alreadyRunning }
            queuedAgain[name] = request
            return .queuedAfterCurrent
        }
        if waiting.contains(name) { return .alreadyWaiting }
        if running.count < capacity {
            start(request)
            return .started
        }
        waiting.add(request)
        return .waiting
    }

    /// Stops the job's run (or removes it from the waiting line). False when it is not running.
    func cancel(_ job: String) -> Bool {
        queuedAgain[job] = nil
        if waiting.remove(job) { return true }
        guard let entry = running[job] else { return false }
        entry.stopper.stop(.cancelledByUser, task: entry.task)
        return true
    }

    /// Stops starting runs, lets the running ones finish for up to `grace`, cancels the rest,
    /// and returns when every run has been recorded.
    func shutdown(grace: Duration, clock: any EngineClock) async {
        state = .draining
        waiting = WaitingLine()
        queuedAgain.removeAll()
        let deadline = clock.now() + grace
        let tasks = running.values.map(\.task)
        if !tasks.isEmpty {
            logger.info("waiting up to \(DurationText.format(grace)) for \(tasks.count) running job(s)")
        }
        let watchdog = Task { [weak self] in
            guard (try? await clock.sleep(until: deadline)) != nil else { return }
            await self?.cancelAll()
        }
        for task in tasks { await task.value }
        watchdog.cancel()
        // Runs that finished during the wait may have been replaced by queued ones: none start
        // while draining, so `running` is empty now.
    }

    private func cancelAll() {
        for (name, entry) in running {
            logger.warning("grace period over: cancelling", metadata: ["job": "\(name)"])
            entry.stopper.stop(.shutdown, task: entry.task)
        }
    }

    private func start(_ request: Request) {
        let stopper = RunStopper()
        let runner = self.runner
        let history = self.history
        let events = self.events
        let logger = self.logger
        // The run starts now, in the manager, whatever the id allocation and marker cost later.
        let start = JobRunner.Start(clock: runner.clock)
        let task = Task {
            let id: Int64
            let startedAt = start.wall
            // The marker with the id: once "run started" is said, a crash must leave the run
            // to be found as interrupted.
            do {
                let begun = try await history.beginRun(job: request.job.name, displayName: request.job.displayName,
                                                       trigger: request.trigger, attempt: request.attempt, at: startedAt)
                id = begun.id
                if let markerError = begun.markerError {
                    logger.warning("cannot mark the run as running (a crash now would not show it as interrupted): \(markerError)",
                                   metadata: ["job": "\(request.job.name)", "run": "\(id)", "attempt": "\(request.attempt)"])
                }
            } catch {
                logger.error("cannot start a run: \(error)", metadata: ["job": "\(request.job.name)"])
                await self.finished(request.job.name, completion: nil)
                return
            }
            // How late the start is against the due time, on the monotonic clock.
            let late = request.dueAt.duration(to: start.instant)
            events.publish(.runStarted(job: request.job.name, runID: id, trigger: request.trigger, attempt: request.attempt))
            logger.info("run started", metadata: [
                "job": "\(request.job.name)", "run": "\(id)", "attempt": "\(request.attempt)", "trigger": "\(request.trigger.rawValue)",
                "lateUs": "\(max(0, late.components.seconds * 1_000_000 + late.components.attoseconds / 1_000_000_000_000))",
            ])
            let outcome = await runner.execute(request.job, id: id, trigger: request.trigger, attempt: request.attempt, start: start, stopper: stopper)
            await self.complete(request.job.name, outcome: outcome)
        }
        running[request.job.name] = Running(task: task, stopper: stopper, request: request)
    }

    /// Appends the record, after any that could not be written before. A failure (disk full,
    /// ...) is logged with the whole record and the record is kept to be written later; the
    /// daemon goes on.
    ///
    /// One flush at a time: this actor method suspends while the store writes, and a call
    /// arriving then only adds its record to the queue that the running flush drains next
    /// (otherwise both would write the oldest kept record). The runs that gather meanwhile go
    /// to the store together, so runs finishing together share one sync (group commit).
    private func record(_ record: RunRecord) async {
        unrecorded.append(record)
        guard !flushing else { return }
        flushing = true
        defer { flushing = false }
        while !unrecorded.isEmpty {
            let batch = unrecorded
            var failure: HistoryAppendFailure?
            do {
                try await history.append(batch)
            } catch let partial as HistoryAppendFailure {
                failure = partial
            } catch {
                failure = HistoryAppendFailure(recorded: 0, error: HistoryError("\(error)"), durable: true)
            }
            let recorded = failure?.recorded ?? batch.count
            unrecorded.removeFirst(recorded)
            for next in batch.prefix(recorded) {
                // Said before it is logged: whoever acts on the log line finds it everywhere.
                if announced.remove(next.id) == nil {
                    events.publish(.runFinished(next))
                }
                logger.info("run recorded", metadata: [
                    "job": "\(next.jobType)", "run": "\(next.id)", "attempt": "\(next.attempt)", "status": "\(next.status.rawValue)",
                    "durationMs": "\(next.durationMs)", "itemsChecked": "\(next.itemsChecked)", "itemsUpdated": "\(next.itemsUpdated)",
                ])
            }
            guard let failure else { continue }
            if !failure.durable {
                logger.error("recorded \(recorded) run(s) that may not survive a power cut: \(failure.error)")
                continue
            }
            // Each kept run is logged once with its whole record, and said to have finished
            // once: it did finish, even though it is not on disk yet.
            for waiting in unrecorded where announced.insert(waiting.id).inserted {
                logger.error("cannot record run yet (kept, \(unrecorded.count) waiting): \(failure.error); the record: \(JSONWriter.string(waiting.json))",
                             metadata: ["job": "\(waiting.jobType)", "run": "\(waiting.id)", "attempt": "\(waiting.attempt)"])
                events.publish(.recordFailed(job: waiting.jobType, runID: waiting.id, error: "\(failure.error)"))
                events.publish(.runFinished(waiting))
            }
            return
        }
    }

    /// Records the run, then lets the next one start: one hop onto the manager for both.
    private func complete(_ job: String, outcome: JobRunner.Outcome) async {
        await record(outcome.record)
        await finished(job, completion: Completion(record: outcome.record, retryNotBefore: outcome.retryNotBefore))
    }

    private func finished(_ job: String, completion: Completion?) async {
        running[job] = nil
        if let completion, let onFinish {
            await onFinish(completion)
        }
        if state == .accepting, let again = queuedAgain.removeValue(forKey: job) {
            start(Request(job: again.job, trigger: again.trigger, attempt: 1, dueAt: again.dueAt))
        }
        startWaiting()
    }

    private func startWaiting() {
        while state == .accepting, running.count < capacity, let next = waiting.next() {
            start(next)
        }
    }
}
