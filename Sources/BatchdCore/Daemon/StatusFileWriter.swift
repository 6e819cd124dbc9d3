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
/// It also decides when start-up is over: the rewrite that follows the scheduler's first sleep
/// (every job planned, the first runs started), and the one that follows each applied reload,
/// end a burst of work; after the pause that follows that rewrite (so that the writer's own
/// steady-state code has run too) the daemon gives the burst's memory back (`ProcessMemory`).
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
    private let releaseAfterWrite = Atomic<Bool>(false)
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
                if waitingForFirstSleep.exchange(false, ordering: .relaxed) { releaseAfterWrite.store(true, ordering: .relaxed) }
            case .reloaded(ok: true, _):
                releaseAfterWrite.store(true, ordering: .relaxed)
            default:
                break
            }
            stale.signal()
        }
    }

    /// Writes the file now, then again after each change, until the task is cancelled.
    func run() async {
        await write()
        let clock = ContinuousClock()
        while !Task.isCancelled {
            // The buffer is kept while changes keep coming (a burst), not while idle.
            if !stale.isPending { buffer.withLock { $0 = [] } }
            await stale.wait()
            guard !Task.isCancelled else { break }
            let started = clock.now
            await write()
            // Under a burst (ten thousand jobs due at midnight) the file is rewritten at most
            // every 20 ms, and never more than a twentieth of the time: it is a picture of the
            // daemon, not its log, and the runs it pictures need the cores more (with 5,000
            // jobs a rewrite is 3 MB, and a fifth of the time was a tenth of both cores). A
            // flush (a reload waiting to say it is done) ends the pause at once.
            let took = clock.now - started
            await pause(for: max(.milliseconds(20) - took, took * 19))
            if releaseAfterWrite.exchange(false, ordering: .relaxed) {
                // Loading the file, planning every job and the first status leave freed heap
                // (ten thousand jobs: 15 MB) and code pages behind; give them back rather than
                // idle at that high-water mark.
                ProcessMemory.releaseStartupMemory()
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

    /// The pause between two rewrites, cut short by a flush.
    private func pause(for duration: Duration) async {
        guard duration > .zero else { return }
        await flushRequested.wait(orUntil: { try await Task.sleep(for: duration) })
    }

    /// One rewrite (also the last one, at shutdown, after `run` has stopped).
    func write() async {
        let generation = flushes.withLock { $0.requested }
        let status = await builder.build()
        var bytes = buffer.withLock { stored in
            var taken: [UInt8] = []
            swap(&taken, &stored)
            return taken
        }
        bytes.removeAll(keepingCapacity: true)
        JSONWriter.write(status.json, to: &bytes)
        bytes.append(0x0A)
        do {
            try AtomicFile.write(bytes, to: path, sync: false)
        } catch {
            logger.warning("cannot write status.json: \(error)")
        }
        buffer.withLock { $0 = bytes }
        resumeWaiters(upTo: generation)
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
