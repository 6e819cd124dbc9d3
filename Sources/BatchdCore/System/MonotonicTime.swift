import Glibc

/// CLOCK_MONOTONIC in nanoseconds: the clock of the pthread waits in `JobQueue` and the idle
/// times in `WatcherThreads`, read without going through Swift's clocks.
enum MonotonicTime {
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
