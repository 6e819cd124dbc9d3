import FoundationEssentials
import Glibc
import Logging

/// Decides when jobs run. It sleeps until the earliest due time (no polling loop) and wakes at
/// once for a trigger, a cancel, a finished run, a new configuration or shutdown; the manager
/// does the running.
///
/// Timing rules (SPEC section 3): interval jobs count from their last successful run on the
/// monotonic clock; cron jobs follow the wall clock of their zone; a failure is retried after
/// the retry policy's delay until `maxAttempts`, then the job returns to its schedule; a job
/// with `after:` runs once each listed job has succeeded since its own last run.
public actor Scheduler {
    private enum State {
        case created, running, stopping, stopped
    }

    public enum TriggerOutcome: Sendable, Equatable {
        case started
        case waiting
        case queued
        case unknownJob
        case alreadyRunning
        case shuttingDown

        public var accepted: Bool { [.started, .waiting, .queued].contains(self) }

        public var message: String {
            switch self {
            case .started: "started"
            case .waiting: "due; waiting for a free slot (maxConcurrentJobs)"
            case .queued: "queued: runs once more after the current run"
            case .unknownJob: "unknown job"
            case .alreadyRunning: "already running"
            case .shuttingDown: "batchd is shutting down"
            }
        }
    }

    private var state = State.created
    private var config: BatchConfig
    /// Every job's timer. Written only through `store` and `replaceTimers`, which keep
    /// `dueAt` and `dependents` in step: the loop looks at those, not at whole timers, so a
    /// wake-up with ten thousand jobs costs a scan of small values, not ten thousand copies.
    private var timers: [String: JobTimer] = [:]
    /// `timers[name].nextDue`, for the jobs that have one.
    private var dueAt: [String: ContinuousClock.Instant] = [:]
    /// The jobs that list a job in `after:`, by that job.
    private var dependents: [String: [String]] = [:]
    private let manager: JobManager
    private let history: any HistoryStore
    private let clock: any EngineClock
    private let events: EventBus
    private let logger: Logger
    private let wake = WakeSignal()
    /// While the loop sleeps: the instant it sleeps until (nil: nothing is due). Nil while it
    /// is awake, when it looks at every due time before sleeping again anyway.
    private var sleepingUntil: ContinuousClock.Instant??

    init(config: BatchConfig, manager: JobManager, history: any HistoryStore, clock: any EngineClock, events: EventBus, logger: Logger) {
        self.config = config
        self.manager = manager
        self.history = history
        self.clock = clock
        self.events = events
        self.logger = logger
    }

    /// Plans every job from its history. Until this returns, triggers are refused as "shutting
    /// down"; the daemon awaits it before it accepts requests.
    func prepare() async {
        guard state == .created else { return }
        var planned: [String: JobTimer] = [:]
        // One instant for all: jobs due "at start" are due together, not microseconds apart.
        let now = clock.now(), wallNow = clock.wallNow()
        let histories = await histories(of: config.jobs)
        for job in config.jobs {
            planned[job.name] = initialTimer(for: job, past: histories[job.name], now: now, wallNow: wallNow)
        }
        guard state == .created else { return }  // stopped meanwhile
        replaceTimers(planned)
        state = .running
    }

    /// Runs the loop until `stop()` (preparing first if that has not been done).
    func run() async {
        await prepare()
        var sleptUntil: ContinuousClock.Instant?
        while state == .running {
            await fireDueJobs(wokenFor: sleptUntil)
            guard state == .running else { break }
            let next = dueAt.values.min()
            events.publish(.schedulerIdle(nextWake: next.map { clock.wallTime(for: $0) }))
            sleepingUntil = .some(next)
            await sleep(until: next)
            sleepingUntil = nil
            sleptUntil = next
        }
        state = .stopped
    }

    func stop() {
        if state == .running || state == .created { state = .stopping }
        wake.signal()
    }

    var isRunning: Bool { state == .running }

    var isInitialized: Bool { state != .created }

    // MARK: Requests from outside

    func trigger(_ name: String) async -> TriggerOutcome {
        guard let timer = timers[name] else { return config.job(named: name) == nil ? .unknownJob : .shuttingDown }
        guard state == .running else { return .shuttingDown }
        let outcome = await submit(timer.job, trigger: .manual, attempt: 1, dueAt: clock.now())
        return outcome
    }

    func cancel(_ name: String) async -> Bool {
        await manager.cancel(name)
    }

    /// The wall clock was set (`WallClockWatcher`). A cron job's due time is a monotonic instant,
    /// which the step did not move: each planned fire time is turned into an instant again,
    /// from the clock as it reads now. A fire time the step jumped over is due at once and
    /// runs once (as a time that daylight saving skips does); one it went back over is not
    /// run again, since the next fire is planned after the last one (`JobTimer.lastCronFire`).
    /// Interval jobs, retries and timeouts count on the monotonic clock and stay as they are.
    func wallClockChanged() {
        var replanned = 0
        for var timer in timers.values {
            guard let fire = timer.cronFire, timer.nextTrigger == .schedule, timer.nextDue != nil else { continue }
            timer.nextDue = clock.instant(for: fire) + timer.job.jitterOffset
            store(timer)
            replanned += 1
        }
        logger.info("the wall clock was set: \(replanned) cron job\(replanned == 1 ? "" : "s") planned again from it")
        wake.signal()
    }

    /// Applies a new configuration: new jobs are planned, removed ones forgotten (a run in
    /// progress finishes and is recorded), changed schedules are re-planned from the last run.
    func apply(_ newConfig: BatchConfig) async {
        let old = timers
        config = newConfig
        await manager.setCapacity(newConfig.maxConcurrentJobs)
        var next: [String: JobTimer] = [:]
        let histories = await histories(of: newConfig.jobs.filter { old[$0.name] == nil })
        for job in newConfig.jobs {
            if var timer = old[job.name] {
                let scheduleChanged = timer.job.schedule != job.schedule || timer.job.enabled != job.enabled
                    || timer.job.jitter != job.jitter
                timer.job = job
                if scheduleChanged && !timer.inFlight {
                    timer.nextAttempt = 1
                    planNormal(&timer, after: nil)
                }
                next[job.name] = timer
            } else {
                next[job.name] = initialTimer(for: job, past: histories[job.name], now: clock.now(), wallNow: clock.wallNow())
            }
        }
        replaceTimers(next)
        wake.signal()
    }

    /// Runs that finished together (one hop from the manager for all of them).
    func runsFinished(_ completions: [JobManager.Completion]) {
        for completion in completions { runFinished(completion) }
    }

    private func runFinished(_ completion: JobManager.Completion) {
        let record = completion.record
        guard var timer = timers[record.jobType] else { return }  // removed by a reload meanwhile
        timer.inFlight = false
        timer.lastRunStart = record.startedAt
        let startedAt = clock.instant(for: record.startedAt)
        switch record.status {
        case .completed:
            timer.lastSuccess = record.startedAt
            timer.nextAttempt = 1
            if record.trigger != .retry && record.trigger != .schedule && record.trigger != .catchUp {
                timer.slot = startedAt  // a manual (or start, dependency) run restarts the interval
            }
            planNormal(&timer, after: nil)
            releaseDependents(of: record.jobType)
        case .failed where record.attempt < timer.job.retry.maxAttempts, .timeout where record.attempt < timer.job.retry.maxAttempts:
            var due = clock.now() + timer.job.retry.delay(afterAttempt: record.attempt)
            if let notBefore = completion.retryNotBefore {
                due = max(due, clock.instant(for: notBefore))
            }
            timer.nextAttempt = record.attempt + 1
            timer.nextTrigger = .retry
            timer.nextDue = timer.job.enabled ? due : nil  // a disabled job's manual run is not retried
            logger.info("retry \(timer.nextAttempt) of \(timer.job.retry.maxAttempts) in \(DurationText.format(clock.now().duration(to: due)))",
                        metadata: ["job": "\(record.jobType)"])
        default:
            // Out of attempts, cancelled or interrupted: back to the normal schedule.
            timer.nextAttempt = 1
            planNormal(&timer, after: nil)
        }
        store(timer)  // wakes the loop only if this made a due time sooner than its wake-up
    }

    /// Due times of every job, for `status` and the API.
    /// To the millisecond, rounded: read back through the wall clock, an instant planned for
    /// 12:17:00 can come out a hair before it (the wall clock set back a little), and
    /// 12:16:59.9996 showed as 12:16:59.999.
    func snapshot() -> [String: Date?] {
        timers.mapValues { timer in timer.nextDue.map { clock.wallTime(for: $0).nearestMillisecond } }
    }

    // MARK: The loop

    /// Until `deadline` or a signal, whichever comes first (`WakeSignal.wait(orUntil:)`: a due
    /// time costs two task resumptions before `fireDueJobs`, where a task group racing two
    /// children cost four, each a thread wake-up on this pool: a tenth of a millisecond of start
    /// lateness). A deadline that passes just as something else woke the loop leaves a signal
    /// behind, which only makes the next sleep look at the due times once more.
    ///
    /// The deadline task is woken a little early, and so is the loop: it prepares the runs due
    /// at the deadline, and spins the rest of the way (`fireDueJobs`). Each resumption waits for
    /// a pool thread to wake, and on this kind of VM that is most of a start's lateness.
    private func sleep(until deadline: ContinuousClock.Instant?) async {
        guard let deadline else { return await wake.wait() }
        let clock = self.clock
        await wake.wait(orUntil: { try await clock.sleep(untilAbout: deadline) })
    }

    /// Starts every job that is due, all in one request to the manager, so that twenty jobs due
    /// at one instant start within microseconds of each other rather than one hop apart.
    ///
    /// Everything between the deadline and the manager's first start is start lateness, so the
    /// timers are changed in place rather than copied out and stored back (a `JobTimer` holds
    /// its whole `JobConfig`); in paired runs that was worth a few microseconds of p50.
    ///
    /// `deadline` is the due time the loop slept until: woken shortly before it (on purpose, see
    /// `sleep`), the runs due then are prepared at once and handed over at the deadline. (Handing
    /// them over early, for the manager to wait out the deadline, made the p99 worse: 288 µs
    /// against 128 in paired runs.)
    private func fireDueJobs(wokenFor deadline: ContinuousClock.Instant?) async {
        var now = clock.now()
        if let deadline, now < deadline, now.duration(to: deadline) <= PreciseTimer.resumeLead { now = deadline }
        var due: [(at: ContinuousClock.Instant, name: String)] = []
        for (name, at) in dueAt where at <= now { due.append((at, name)) }
        guard !due.isEmpty, state == .running else { return }
        due.sort { ($0.at, $0.name) < ($1.at, $1.name) }
        var requests: [JobManager.Request] = []
        requests.reserveCapacity(due.count)
        for (dueAt, name) in due {
            guard let request = timers[name].map({ JobManager.Request(job: $0.job, trigger: $0.nextTrigger, attempt: $0.nextAttempt, dueAt: dueAt) })
            else { continue }
            let lateness = dueAt.duration(to: now)
            if lateness > .seconds(1) {
                logger.info("starting \(DurationText.format(lateness)) late", metadata: ["job": "\(name)"])
            }
            requests.append(request)
            timers[name]?.dueTimeTaken()
            self.dueAt[name] = nil
        }
        if let deadline { clock.waitOut(deadline) }
        let admissions = await manager.submit(requests)
        for (request, admission) in zip(requests, admissions) {
            let outcome = record(admission, for: request.job.name)
            if outcome == .alreadyRunning, var skipped = timers[request.job.name] {
                // overlap: forbid: this occurrence is skipped; plan the next one.
                logger.warning("still running at its next due time: this occurrence is skipped", metadata: ["job": "\(request.job.name)"])
                planNormal(&skipped, after: now)
                store(skipped)
            }
        }
    }

    private func submit(_ job: JobConfig, trigger: RunTrigger, attempt: Int, dueAt: ContinuousClock.Instant) async -> TriggerOutcome {
        let admission = await manager.submit([.init(job: job, trigger: trigger, attempt: attempt, dueAt: dueAt)])[0]
        return record(admission, for: job.name)
    }

    /// Notes what the manager did with a run of `name` and says it as a trigger outcome.
    private func record(_ admission: JobManager.Admission, for name: String) -> TriggerOutcome {
        switch admission {
        case .started, .waiting:
            timers[name]?.inFlight = true
            timers[name]?.nextDue = nil
            timers[name]?.upstreamSuccesses = []
            dueAt[name] = nil
            return admission == .started ? .started : .waiting
        case .queuedAfterCurrent: return .queued
        case .alreadyRunning, .alreadyWaiting: return .alreadyRunning
        case .shuttingDown: return .shuttingDown
        }
    }

    // MARK: Planning

    /// The plan at start-up: from the job's history, with one catch-up run when a fire time
    /// was missed while batchd was down, and `runOnStart`.
    private func initialTimer(for job: JobConfig, past: JobHistorySummary?, now: ContinuousClock.Instant, wallNow: Date) -> JobTimer {
        var timer = JobTimer(job: job)
        timer.lastRunStart = past?.latest?.startedAt
        timer.lastSuccess = past?.lastSuccess
        guard job.enabled else { return timer }
        var missed = false
        switch job.schedule {
        case .interval(let period):
            if let lastSuccess = timer.lastSuccess {
                timer.slot = clock.instant(for: lastSuccess)
                missed = timer.slot! + period <= now
            }
        case .cron(let zoned):
            if let lastRun = timer.lastRunStart, let fire = zoned.nextFire(after: lastRun), fire <= wallNow {
                missed = true
            }
        case nil:
            break
        }
        if case .interval = job.schedule, timer.slot == nil || missed {
            timer.slot = now  // the interval counts from this run
        }
        if job.runOnStart {
            timer.nextDue = now
            timer.nextTrigger = .start
        } else if missed && job.catchUp {
            timer.nextDue = now + job.jitterOffset
            timer.nextTrigger = .catchUp
            logger.info("a scheduled run was missed while batchd was down: one catch-up run", metadata: ["job": "\(job.name)"])
        } else if case .interval = job.schedule, timer.lastSuccess == nil {
            // Never succeeded: due now, as in the seed.
            timer.nextDue = now + job.jitterOffset
            timer.nextTrigger = .schedule
        } else {
            planNormal(&timer, after: nil)
        }
        return timer
    }

    /// Every job's latest run and last success in one request to the store (ten thousand jobs:
    /// one request, not twenty thousand). A job whose history cannot be read is planned as if it
    /// had none, as before; so when the one request fails, each job is asked on its own.
    private func histories(of jobs: [JobConfig]) async -> [String: JobHistorySummary] {
        if let all = try? await history.summaries(of: jobs.map(\.name)) { return all }
        var each: [String: JobHistorySummary] = [:]
        for job in jobs {
            each[job.name] = JobHistorySummary(latest: (try? await history.latest(job: job.name)) ?? nil,
                                               lastSuccess: (try? await history.lastSuccess(job: job.name)) ?? nil)
        }
        return each
    }

    /// The next regular run after `now` (or after `after`), or none for jobs without a
    /// schedule or disabled ones.
    private func planNormal(_ timer: inout JobTimer, after: ContinuousClock.Instant?) {
        timer.nextTrigger = .schedule
        timer.nextDue = nil
        timer.cronFire = nil
        guard timer.job.enabled, let schedule = timer.job.schedule else { return }
        let now = after ?? clock.now()
        switch schedule {
        case .interval(let period):
            var slot = timer.slot ?? now
            if slot + period <= now {
                // Skip the slots that passed while the job ran (or was down, without catch-up).
                let missed = slot.duration(to: now) / period
                slot = slot + period * Int(missed.rounded(.down))
            }
            timer.slot = slot + period
            timer.nextDue = timer.slot! + timer.job.jitterOffset
        case .cron(let zoned):
            let wall = max(clock.wallTime(for: now), timer.lastCronFire ?? .distantPast)
            if let fire = zoned.nextFire(after: wall) {
                timer.nextDue = clock.instant(for: fire) + timer.job.jitterOffset
                timer.cronFire = fire
            }
        }
    }

    /// After `job` succeeded: jobs waiting on it run once all of their `after:` jobs have.
    private func releaseDependents(of job: String) {
        for name in dependents[job] ?? [] {
            guard var timer = timers[name] else { continue }
            timer.upstreamSuccesses.insert(job)
            if timer.job.enabled, !timer.inFlight, timer.upstreamSuccesses.isSuperset(of: timer.job.after) {
                timer.nextDue = clock.now()
                timer.nextTrigger = .dependency
                timer.nextAttempt = 1
            }
            store(timer)
        }
    }

    // MARK: Timers and their indexes

    private func store(_ timer: JobTimer) {
        let name = timer.job.name
        timers[name] = timer
        dueAt[name] = timer.nextDue
        // Only a due time sooner than the sleeping loop's wake-up needs it now. Waking it for
        // every finished run cost a pass over every job's due time each time (ten thousand
        // jobs, thousands of runs a second).
        if let due = timer.nextDue, case .some(let target) = sleepingUntil, target.map({ due < $0 }) ?? true {
            wake.signal()
        }
    }

    private func replaceTimers(_ new: [String: JobTimer]) {
        timers = new
        dueAt = new.compactMapValues(\.nextDue)
        dependents = [:]
        for (name, timer) in new {
            for upstream in timer.job.after { dependents[upstream, default: []].append(name) }
        }
    }
}

extension ContinuousClock.Instant {
    static var distantFuture: ContinuousClock.Instant { .now + .seconds(100 * 365 * 86_400) }
}
