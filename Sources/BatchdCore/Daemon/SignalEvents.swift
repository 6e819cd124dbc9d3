import CBatchdSystem
import FoundationEssentials
import Glibc

/// Unix signals without libdispatch: the signals are blocked in every thread (`blockEarly`,
/// called before the process starts any thread) and read from a signalfd by one thread that
/// sleeps in `poll`. Dispatch signal sources would do it too, but they keep libdispatch's
/// manager thread waking once a second, and an idle batchd must not wake at all.
public enum SignalEvents {
    /// The signals the daemon handles: shutdown, reload, and children to reap.
    public static let daemonSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGCHLD]

    /// Blocks `signals` for this thread and every thread started after it. Call first thing.
    public static func blockEarly(_ signals: [Int32] = daemonSignals) {
        _ = signals.withUnsafeBufferPointer { CBatchd_block_signals($0.baseAddress, Int32($0.count)) }
    }

    /// Feeds `signals` to `deliver`, reaping orphans on SIGCHLD if it is among them.
    ///
    /// Each orphan pass reads `/proc` (a file per thread, and more), and every finished run
    /// sends a SIGCHLD: a thousand runs a second would mean a thousand passes, and a thousand
    /// wake-ups of this thread. So SIGCHLD has a signalfd of its own, which this thread stops
    /// watching for `orphanPassInterval` after each pass: the SIGCHLDs of that spell stay
    /// pending (the kernel keeps one), and one pass at its end answers them all. An orphan
    /// waits that long at worst to be reaped; the other signals are read at once throughout.
    /// Quiet means no timeout at all: an idle daemon does not wake. Passes read the main
    /// thread's children only (where orphans go); one a second at least reads every thread's.
    public static func forward(_ signals: [Int32], to deliver: @escaping @Sendable (Int32) -> Void) {
        let others = signals.filter { $0 != SIGCHLD }
        let othersFD = others.withUnsafeBufferPointer { CBatchd_signalfd($0.baseAddress, Int32($0.count), 0) }
        let childFD: Int32 = signals.contains(SIGCHLD)
            ? [SIGCHLD].withUnsafeBufferPointer { CBatchd_signalfd($0.baseAddress, 1, 1) } : -1
        guard othersFD >= 0 else { return }
        OSThread.start(name: "batchd-signals") {
            var lastPass: ContinuousClock.Instant?
            var lastThoroughPass: ContinuousClock.Instant?
            while true {
                // SIGCHLD is watched again once the spell after the last pass is over.
                var timeout: Int32 = -1
                var watchChildren = childFD >= 0
                if watchChildren, let lastPass {
                    let remaining = ContinuousClock.now.duration(to: lastPass + orphanPassInterval)
                    if remaining > .zero {
                        watchChildren = false
                        timeout = Int32((remaining + .microseconds(999)).milliseconds)  // rounded up: no spin
                    }
                }
                let ready = CBatchd_wait_either_ms(othersFD, watchChildren ? childFD : -1, timeout)
                if ready < 0 { return }
                if ready & 1 != 0 {
                    let number = CBatchd_read_signal(othersFD)
                    if number < 0 { return }
                    deliver(number)
                }
                // The spell is over (or a SIGCHLD came after it): answer what is pending.
                guard childFD >= 0, ready & 2 != 0 || (!watchChildren && ready == 0) else { continue }
                var pending = false
                while CBatchd_read_signal(childFD) == SIGCHLD { pending = true }
                if !pending {
                    lastPass = nil  // nothing came in the spell: watch SIGCHLD again, no timeout
                    continue
                }
                let now = ContinuousClock.now
                let thorough = lastThoroughPass.map { now >= $0 + thoroughPassInterval } ?? true
                OrphanReaper.reapOrphans(thorough: thorough)
                if thorough { lastThoroughPass = now }
                lastPass = now
            }
        }
    }

    /// The least time between two orphan passes while SIGCHLDs keep arriving.
    static let orphanPassInterval = Duration.milliseconds(10)
    /// The most time between two passes that read every thread's children.
    static let thoroughPassInterval = Duration.seconds(1)

    /// `signals` as an async stream (reaping SIGCHLD along the way, if it is among them).
    public static func stream(_ signals: [Int32]) -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        forward(signals) { continuation.yield($0) }
        return stream
    }
}
