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
    /// sends a SIGCHLD: a thousand runs a second would mean a thousand passes. So a pass runs at
    /// once after a quiet spell, and otherwise at most every `orphanPassInterval` while
    /// SIGCHLDs keep coming; an orphan waits that long at worst to be reaped. Quiet means no
    /// timeout at all: an idle daemon does not wake. The passes in between read the main
    /// thread's children only (where orphans go); one a second at least reads every thread's.
    public static func forward(_ signals: [Int32], to deliver: @escaping @Sendable (Int32) -> Void) {
        let fd = signals.withUnsafeBufferPointer { CBatchd_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { return }
        OSThread.start(name: "batchd-signals") {
            var lastPass: ContinuousClock.Instant?
            var lastThoroughPass: ContinuousClock.Instant?
            var passOwed = false
            while true {
                var timeout: Int32 = -1
                if passOwed, let lastPass {
                    let remaining = ContinuousClock.now.duration(to: lastPass + orphanPassInterval)
                    timeout = Int32(max(0, (remaining + .microseconds(999)).milliseconds))  // rounded up: no spin
                }
                if CBatchd_wait_readable_ms(fd, timeout) > 0 {
                    let number = CBatchd_read_signal(fd)
                    if number < 0 { return }
                    if number == SIGCHLD { passOwed = true } else { deliver(number) }
                }
                let now = ContinuousClock.now
                if passOwed, lastPass.map({ now >= $0 + orphanPassInterval }) ?? true {
                    let thorough = lastThoroughPass.map { now >= $0 + thoroughPassInterval } ?? true
                    OrphanReaper.reapOrphans(thorough: thorough)
                    if thorough { lastThoroughPass = now }
                    lastPass = now
                    passOwed = false
                }
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
