import CBatchdSystem
import FoundationEssentials
import Glibc

/// Unix signals without libdispatch: the signals are blocked in every thread (`blockEarly`,
/// called before the process starts any thread) and read from a signalfd by one thread that
/// sleeps in `read`. Dispatch signal sources would do it too, but they keep libdispatch's
/// manager thread waking once a second, and an idle batchd must not wake at all.
public enum SignalEvents {
    /// The signals the daemon handles: shutdown, reload, and children to reap.
    public static let daemonSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGCHLD]

    /// Blocks `signals` for this thread and every thread started after it. Call first thing.
    public static func blockEarly(_ signals: [Int32] = daemonSignals) {
        _ = signals.withUnsafeBufferPointer { CBatchd_block_signals($0.baseAddress, Int32($0.count)) }
    }

    /// Calls `handler` on a dedicated thread for each arriving signal of `signals`, which must
    /// have been blocked with `blockEarly`.
    public static func listen(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        let fd = signals.withUnsafeBufferPointer { CBatchd_signalfd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { return }
        OSThread.start(name: "batchd-signals") {
            while true {
                let number = CBatchd_read_signal(fd)
                if number < 0 { return }
                handler(number)
            }
        }
    }

    /// Feeds `signals` to `deliver` (reaping SIGCHLD along the way, if it is among them).
    public static func forward(_ signals: [Int32], to deliver: @escaping @Sendable (Int32) -> Void) {
        listen(signals) { number in
            if number == SIGCHLD {
                OrphanReaper.reapOrphans()
            } else {
                deliver(number)
            }
        }
    }

    /// `signals` as an async stream (reaping SIGCHLD along the way, if it is among them).
    public static func stream(_ signals: [Int32]) -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        forward(signals) { continuation.yield($0) }
        return stream
    }
}
