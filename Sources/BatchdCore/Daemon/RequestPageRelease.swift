import Synchronization

/// Gives back the program pages that answering HTTP requests mapped, once the requests have
/// stopped for `idleDelay` and the engine is quiet (`StatusFileWriter.isQuiet`).
///
/// Why: one `/healthz` took the daemon from 3.2 MB resident to 11.3 MB, all of it pages of the
/// program file. SwiftNIO's path through one request touches code spread over the whole
/// binary, and the kernel maps 64 KiB around each page touched (about 95 faults, 8 MB). The
/// status writer gives pages back after runs and reloads only, so a daemon whose only visitor
/// is a Prometheus scrape idled at that high-water mark for good.
///
/// Why a delay of seconds and not the runs' half minute: taking the pages back in costs the
/// next request those ~95 minor faults (well under a millisecond) and the release a few
/// milliseconds, so a scrape every 15 s pays a fraction of a millisecond a scrape for idling
/// at the low mark most of the time, and a client that polls more often than `idleDelay`
/// keeps the pages and pays nothing. A job due soon keeps them too, as after a run: its start
/// would otherwise be late by the faults.
///
/// Why the delay is slept whole rather than restarted by each answer: a restarted delay is a
/// sleeping task per answer, created and cancelled; under wrk (2 threads, 64 connections, 10 s
/// of `/healthz`) that was 21,000 requests/s instead of 53,000 and 80 MB resident instead of 12
/// (bench/run-http's minute of load: 400 MB).
public final class RequestPageRelease: Sendable {
    private let isQuiet: @Sendable () async -> Bool
    private let release: @Sendable () -> Void
    private let sleep: @Sendable (Duration) async throws -> Void
    private let idleDelay: Duration
    private let answered = WakeSignal()
    /// Answers so far: a wait that ends with the count unchanged was a whole quiet delay.
    private let answers = Atomic<UInt64>(0)

    public convenience init(statusBuilder: StatusBuilder, idleDelay: Duration = RequestPageRelease.defaultIdleDelay) {
        self.init(idleDelay: idleDelay,
                  isQuiet: { StatusFileWriter.isQuiet(await statusBuilder.build()) },
                  release: { ProcessMemory.releaseMemory() })
    }

    /// `isQuiet` says whether nothing runs or is due soon; `release` gives the pages back;
    /// `sleep` is how the idle delay passes. Parameters so that a test can drive the delay's end
    /// itself and watch what follows, instead of racing a clock.
    init(idleDelay: Duration, isQuiet: @escaping @Sendable () async -> Bool, release: @escaping @Sendable () -> Void,
         sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.idleDelay = idleDelay
        self.isQuiet = isQuiet
        self.release = release
        self.sleep = sleep
    }

    public static let defaultIdleDelay = Duration.seconds(5)

    /// An answer was written. Called on the event loop for every answer: an atomic add and a
    /// signal (a lock taken, and at most one continuation resumed).
    public func requestAnswered() {
        answers.add(1, ordering: .relaxed)
        answered.signal()
    }

    /// Releases after each spell of requests, until the task is cancelled: the delay is slept
    /// whole and slept again while answers came during it, so the release comes one to two
    /// delays after the last answer, and a busy listener costs one timer a delay, not one an
    /// answer.
    public func run() async {
        var releasedAt: UInt64 = 0
        while !Task.isCancelled {
            await answered.wait()
            // The signals of the answers during the last spell leave one behind: nothing new came.
            if answers.load(ordering: .relaxed) == releasedAt { continue }
            var seen: UInt64
            repeat {
                seen = answers.load(ordering: .relaxed)
                do { try await sleep(idleDelay) } catch { return }  // cancelled: the server stops
            } while answers.load(ordering: .relaxed) != seen
            releasedAt = seen
            if await isQuiet() { release() }
        }
    }
}
