import FoundationEssentials
import Glibc
import Logging
import Synchronization

/// `<stateDir>/status.json`, rewritten atomically after every change the engine publishes.
///
/// Events only mark the file stale: a burst of them (twenty runs starting at one instant)
/// costs one rewrite, not twenty, each querying every job. `flush` is for the reload path:
/// it returns once the file shows everything that happened before the call, so that when
/// the log says "reload: +b", `batchd status` already lists b.
///
/// It also decides when the memory of a burst of work goes back (`ProcessMemory`). Start-up
/// ends with the rewrite that follows the scheduler's first sleep (every job planned, the first
/// runs started), a reload with the rewrite that follows it: the freed heap goes back then. The
/// program's pages go back at the first rewrite after such a burst, or after runs, that finds
/// the daemon quiet (`isQuiet`). Not sooner: the threads of a burst of runs would fault them
/// straight back in, and a daemon whose jobs run every second would fault its scheduler's path
/// back in at the next due time, late by those faults (bench/run's precision probe: a p99 of
/// 75 µs became 150-220 µs when the pages went as soon as no run was going).
final class StatusFileWriter: Sendable {
    private struct Flushes {
        var requested = 0
        var waiters: [(generation: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let builder: StatusBuilder
    private let path: String
    private let logger: Logger
    private let stale = WakeSignal()
    /// Ends the pause after a rewrite (see `pause`).
    private let flushRequested = WakeSignal()
    private let flushes = Mutex(Flushes())
    private let waitingForFirstSleep = Atomic<Bool>(true)
    /// Start-up is over, or a reload was applied, since the last look.
    private let burstEnded = Atomic<Bool>(false)
    /// A run has finished since the last look.
    private let ranSinceLastLook = Atomic<Bool>(false)
    /// The bytes of the last rewrite, kept for the next while a burst lasts: with ten thousand
    /// jobs the file is 3 MB, and a fresh buffer each time is 3 MB of page faults and a `munmap`.
    private let buffer = Mutex<[UInt8]>([])

    init(builder: StatusBuilder, stateDirectory: String, logger: Logger) {
        self.builder = builder
        path = "\(stateDirectory)/status.json"
        self.logger = logger
        // An observer, not a subscription: marking the file stale is a flag and a wake-up,
        // too little to be worth a task switch for each run's two events. Registered here, before
        // the daemon starts the engine, not when `run` begins: the scheduler's first sleep (which
        // ends start-up, see above) may come before the writer's task has begun, and a missed
        // one would leave start-up's memory mapped for good.
        builder.engine.events.observe { [self] event in
            switch event {
            case .recordFailed:
                return
            case .schedulerIdle:
                if waitingForFirstSleep.exchange(false, ordering: .relaxed) { burstEnded.store(true, ordering: .relaxed) }
            case .reloaded(ok: true, _):
                burstEnded.store(true, ordering: .relaxed)
            case .runFinished:
                ranSinceLastLook.store(true, ordering: .relaxed)
            default:
                break
            }
            stale.signal()
        }
    }

    /// Writes the file now, then again after each change, until the task is cancelled.
    func run() async {
        let clock = ContinuousClock()
        // The first rewrite pauses too: start-up's changes (every job planned, the first runs
        // started) had the next one follow at once, and with 5,000 jobs started together
        // the two took one core for the first 95 ms of their 250 ms burst.
        var started = clock.now
        await write()
        await pause(after: clock.now - started)
        var pagesToGiveBack = false
        while !Task.isCancelled {
            // The buffer is kept while changes keep coming (a burst), not while idle.
            if !stale.isPending { buffer.withLock { $0 = [] } }
            await stale.wait()
            guard !Task.isCancelled else { break }
            started = clock.now
            let status = await write()
            await pause(after: clock.now - started)
            // Loading the file, planning every job and the first status leave freed heap (ten
            // thousand jobs: 15 MB) and the program's pages behind, and so does a run: one
            // triggered command mapped 8 MB of pages back. They go back rather than the daemon
            // idling at that high-water mark.
            let burstJustEnded = burstEnded.exchange(false, ordering: .relaxed)
            let ran = ranSinceLastLook.exchange(false, ordering: .relaxed)  // both looked at, always
            if burstJustEnded || ran { pagesToGiveBack = true }
            guard pagesToGiveBack else { continue }
            if Self.isQuiet(status) {
                pagesToGiveBack = false
                ProcessMemory.releaseMemory()
            } else if burstJustEnded {
                ProcessMemory.trimHeap()  // the heap now, the pages once quiet
            }
        }
        resumeWaiters(upTo: .max)  // nobody waits for a writer that has stopped
    }

    /// Returns once a rewrite that started after this call has finished.
    func flush() async {
        await withCheckedContinuation { continuation in
            flushes.withLock {
                $0.requested += 1
                $0.waiters.append(($0.requested, continuation))
            }
            stale.signal()
            flushRequested.signal()
        }
    }

    /// The pause after a rewrite that took `took`, cut short by a flush. Under a burst (ten
    /// thousand jobs due at midnight) the file is rewritten at most every 20 ms, and never
    /// more than a twentieth of the time: it is a picture of the daemon, not its log, and the
    /// runs it pictures need the cores more (with 5,000 jobs a rewrite is 3 MB, and a fifth of
    /// the time was a tenth of both cores). A flush (a reload waiting to say it is done) ends
    /// the pause at once.
    private func pause(after took: Duration) async {
        let duration = max(.milliseconds(20) - took, took * 19)
        guard duration > .zero else { return }
        await flushRequested.wait(orUntil: { try await Task.sleep(for: duration) })
    }

    /// No run going and none due for `quietSpell` or more: the pages are worth giving back. Jobs
    /// every half minute or more often keep them: a release costs a few milliseconds of CPU, the
    /// next run's page faults about as much again, and they make its start later by a tenth of a
    /// millisecond or so.
    static func isQuiet(_ status: DaemonStatus) -> Bool {
        guard !status.jobs.contains(where: \.running) else { return false }
        let soonest = status.jobs.compactMap(\.nextRun).min()
        return soonest.map { $0.timeIntervalSince(status.updatedAt) >= quietSpell } ?? true
    }

    static let quietSpell: TimeInterval = 30

    /// One rewrite (also the last one, at shutdown, after `run` has stopped); returns the status
    /// it wrote.
    @discardableResult
    func write() async -> DaemonStatus {
        let generation = flushes.withLock { $0.requested }
        let status = await builder.build()
        let bytes = status.bytes(reusing: buffer.withLock { stored in
            var taken: [UInt8] = []
            swap(&taken, &stored)
            return taken
        })
        do {
            try AtomicFile.write(bytes, to: path, sync: false)
        } catch {
            logger.warning("cannot write status.json: \(error)")
        }
        buffer.withLock { $0 = bytes }
        resumeWaiters(upTo: generation)
        return status
    }

    private func resumeWaiters(upTo generation: Int) {
        let ready = flushes.withLock { flushes in
            let ready = flushes.waiters.filter { $0.generation <= generation }
            flushes.waiters.removeAll { $0.generation <= generation }
            return ready
        }
        ready.forEach { $0.continuation.resume() }
    }
}
