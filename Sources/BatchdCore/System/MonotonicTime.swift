import Glibc

/// CLOCK_MONOTONIC in nanoseconds: the clock of the pthread waits in `JobQueue` and the idle
/// times in `WatcherThreads`, read without going through Swift's clocks.
enum MonotonicTime {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// `duration` in nanoseconds, clamped: a negative one is zero, and 2^32 s is forever.
    static func nanoseconds(in duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return seconds < 0 ? 0 : UInt64(min(seconds, 1 << 32)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}
