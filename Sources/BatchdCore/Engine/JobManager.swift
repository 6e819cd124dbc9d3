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
    private var onFinish: (@Sendable ([Completion]) async -> Void)?
    private var state = State.accepting
    private var running: [String: Running] = [:]
    /// Due runs waiting for a slot, started by priority, then due time, then arrival.
    private var waiting = WaitingLine()
    private var queuedAgain: [String: Request] = [:]
    /// Runs admitted in this turn of the actor, launched together at its end (`launchAdmitted`):
    /// one trip to the store for all their ids and start markers.
    private var admitted: [Request] = []
    private var admittedJobs: Set<String> = []
    /// Finished runs that could not be written yet (disk full, ...), oldest first: written before
    /// the next record, so that when space returns no run is lost.
    private var unrecorded: [RunRecord] = []
    /// Records added to `unrecorded` since the last attempt to write it.
    private var recordsSinceAttempt = 0
    private var flushing = false
    /// Runs that ended, waiting for `finishInOrder` to tell the scheduler.
    private var toFinish: [(job: String, completion: Completion?)] = []
    private var finishing = false
    /// Runs whose `runFinished` went out while they waited to be written.
    private var announced: Set<Int64> = []
    /// Shutdown, waiting for the flush and the finishing in progress (the runs they are for may
    /// have ended already).
    private var flushWaiters: [CheckedContinuation<Void, Never>] = []

    init(capacity: Int, runner: JobRunner, history: any HistoryStore, events: EventBus, logger: Logger) {
        self.capacity = capacity
        self.runner = runner
        self.history = history
        self.events = events
        self.logger = logger
    }

    /// Where finished runs are reported (the scheduler), the runs that finished together in one
    /// call; set once before the first run.
    func setCompletionHandler(_ handler: @escaping @Sendable ([Completion]) async -> Void) {
        onFinish = handler
    }

    func setCapacity(_ newCapacity: Int) {
        capacity = newCapacity
        startWaiting()
        launchAdmitted()
    }

    var runningJobs: [String] { running.keys.sorted() }

    /// Admits each request in order; one call for everything due at one instant.
    ///
    /// The runs that must wait for a slot are logged in one line: ten thousand jobs due at
    /// midnight with `maxConcurrentJobs: 64` are one event, not ten thousand lines.
    func submit(_ requests: [Request]) -> [Admission] {
        let admissions = requests.map(submit)
        launchAdmitted()
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
        if isBusy(name) {
            guard request.job.overlap == .queue else { return .alreadyRunning }
            queuedAgain[name] = request
            return .queuedAfterCurrent
        }
        if waiting.contains(name) { return .alreadyWaiting }
        if hasFreeSlot {
            admit(request)
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
        // A run's task may end while its record waits in the flush of another run's task.
        if flushing || finishing { await withCheckedContinuation { flushWaiters.append($0) } }
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

    /// Running, or admitted in this turn.
    private func isBusy(_ job: String) -> Bool {
        running[job] != nil || admittedJobs.contains(job)
    }

    private var hasFreeSlot: Bool { running.count + admitted.count < capacity }

    private func admit(_ request: Request) {
        admitted.append(request)
        admittedJobs.insert(request.job.name)
    }

    /// Starts the runs admitted in this turn: each in a task of its own (a slow handler holds up
    /// no other run), all of them begun together (`begin`). A lone run begins in its own task;
    /// a batch in one task that every run of it waits for.
    private func launchAdmitted() {
        guard !admitted.isEmpty else { return }
        let batch = admitted
        admitted = []
        admittedJobs = []
        let runner = self.runner
        let history = self.history
        let events = self.events
        let logger = self.logger
        // The runs start now, in the manager, whatever the id allocation and markers cost later.
        let start = JobRunner.Start(clock: runner.clock)
        let shared = batch.count == 1 ? nil : Task {
            await Self.begin(batch, start: start, history: history, events: events, logger: logger)
        }
        for (number, request) in batch.enumerated() {
            let stopper = RunStopper()
            let task = Task {
                let ids = if let shared { await shared.value } else {
                    await Self.begin(batch, start: start, history: history, events: events, logger: logger)
                }
                guard let id = ids[number] else {
                    await self.complete(request.job.name, outcome: nil)
                    return
                }
                let outcome = await runner.execute(request.job, id: id, trigger: request.trigger, attempt: request.attempt, start: start, stopper: stopper)
                await self.complete(request.job.name, outcome: outcome)
            }
            running[request.job.name] = Running(task: task, stopper: stopper, request: request)
        }
    }

    /// Takes ids and writes start markers for `batch` in one call to the store, then says each
    /// run started (event and log line; the lines of a batch in one write). The marker comes
    /// before the word: once "run started" is said, a crash must leave the run to be found as
    /// interrupted. Nil for a run that cannot start (no id).
    private static func begin(_ batch: [Request], start: JobRunner.Start, history: any HistoryStore,
                              events: EventBus, logger: Logger) async -> [Int64?] {
        let begun: [BegunRun]
        do {
            begun = try await history.beginRuns(batch.map {
                RunStart(job: $0.job.name, displayName: $0.job.displayName, trigger: $0.trigger, attempt: $0.attempt, at: start.wall)
            })
        } catch {
            for request in batch {
                logger.error("cannot start a run: \(error)", metadata: ["job": "\(request.job.name)"])
            }
            return batch.map { _ in nil }
        }
        LogLineBatch.collect {
            for (request, run) in zip(batch, begun) {
                if let markerError = run.markerError {
                    logger.warning("cannot mark the run as running (a crash now would not show it as interrupted): \(markerError)",
                                   metadata: ["job": "\(request.job.name)", "run": "\(run.id)", "attempt": "\(request.attempt)"])
                }
                // How late the start is against the due time, on the monotonic clock.
                let late = request.dueAt.duration(to: start.instant)
                events.publish(.runStarted(job: request.job.name, runID: run.id, trigger: request.trigger, attempt: request.attempt))
                logger.info("run started", metadata: [
                    "job": "\(request.job.name)", "run": "\(run.id)", "attempt": "\(request.attempt)", "trigger": "\(request.trigger.rawValue)",
                    "lateUs": "\(max(0, late.components.seconds * 1_000_000 + late.components.attoseconds / 1_000_000_000_000))",
                ])
            }
        }
        return begun.map(\.id)
    }

    /// A run has ended (`outcome` nil: it could not start). Its record is appended, after any
    /// that could not be written before, then its slot is freed and the scheduler told.
    ///
    /// One flush at a time: this actor method suspends while the store writes, and a run
    /// ending then only queues its record for the running flush to write next (otherwise both
    /// would write the oldest kept record) and is finished at once. So the runs that finish
    /// together go to the store together and share one sync (group commit). Finishing goes on
    /// in a task of its own (`finishInOrder`), so that the next write need not wait for the
    /// scheduler and the starts that follow: the two overlap, and the scheduler hears of the
    /// runs that ended meanwhile in one call.
    private func complete(_ job: String, outcome: JobRunner.Outcome?) async {
        if let outcome {
            unrecorded.append(outcome.record)
            recordsSinceAttempt += 1
        }
        let completion = outcome.map { Completion(record: $0.record, retryNotBefore: $0.retryNotBefore) }
        guard !flushing else {
            finishLater(job, completion)
            return
        }
        flushing = true
        while recordsSinceAttempt > 0 { await writeUnrecorded() }
        finishLater(job, completion)
        flushing = false
        resumeFlushWaiters()
    }

    /// Frees the run's slot in this turn (whoever hears that it finished finds the slot free)
    /// and queues it for `finishInOrder`.
    private func finishLater(_ job: String, _ completion: Completion?) {
        running[job] = nil
        toFinish.append((job, completion))
        guard !finishing else { return }
        finishing = true
        Task { await self.finishInOrder() }
    }

    /// Finishes the runs that ended, in the order they ended.
    private func finishInOrder() async {
        while !toFinish.isEmpty {
            let done = toFinish
            toFinish = []
            await finish(done)
        }
        finishing = false
        resumeFlushWaiters()
    }

    private func resumeFlushWaiters() {
        guard !flushing, !finishing else { return }
        flushWaiters.forEach { $0.resume() }
        flushWaiters = []
    }

    /// One try at appending every kept record. A failure (disk full, ...) is logged with the
    /// whole record and the record is kept, to be tried again with the next run that ends; the
    /// daemon goes on.
    private func writeUnrecorded() async {
        recordsSinceAttempt = 0
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
        LogLineBatch.collect {
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
        }
        guard let failure else { return }
        if !failure.durable {
            logger.error("recorded \(recorded) run(s) that may not survive a power cut: \(failure.error)")
            return
        }
        // Each kept run is logged once with its whole record, and said to have finished
        // once: it did finish, even though it is not on disk yet.
        for waiting in unrecorded where announced.insert(waiting.id).inserted {
            logger.error("cannot record run yet (kept, \(unrecorded.count) waiting): \(failure.error); the record: \(JSONWriter.string(waiting.json))",
                         metadata: ["job": "\(waiting.jobType)", "run": "\(waiting.id)", "attempt": "\(waiting.attempt)"])
            events.publish(.recordFailed(job: waiting.jobType, runID: waiting.id, error: "\(failure.error)"))
            events.publish(.runFinished(waiting))
        }
    }

    /// Tells the scheduler of runs that ended (their slots are free), and starts what may start now.
    private func finish(_ done: [(job: String, completion: Completion?)]) async {
        let completions = done.compactMap(\.completion)
        if !completions.isEmpty, let onFinish {
            await onFinish(completions)
        }
        // A run queued behind one that ended (`overlap: queue`); not if the job started again
        // while the scheduler heard (a trigger).
        for run in done where state == .accepting && !isBusy(run.job) {
            if let again = queuedAgain.removeValue(forKey: run.job) {
                admit(Request(job: again.job, trigger: again.trigger, attempt: 1, dueAt: again.dueAt))
            }
        }
        startWaiting()
        launchAdmitted()
    }

    private func startWaiting() {
        while state == .accepting, hasFreeSlot, let next = waiting.next() {
            admit(next)
        }
    }
}
