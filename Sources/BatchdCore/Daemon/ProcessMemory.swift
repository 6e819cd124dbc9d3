import CBatchdSystem

/// What the daemon does so that it idles at the memory it needs, not at the high-water mark of
/// starting up (bench/RESULTS.md has the figures).
public enum ProcessMemory {
    /// At the very start, before any thread: two malloc arenas at most, and free memory at the
    /// top of a heap returned above 128 KiB (10,000 jobs: 34.7 -> ~25 MB anonymous).
    public static func tuneAllocator() {
        CBatchd_tune_malloc()
    }

    /// Once start-up (or a reload) is over: freed heap goes back to the kernel, and the code
    /// pages that work faulted in are unmapped (they stay in the page cache; what the daemon runs
    /// afterwards is mapped again by minor faults). 100 idle jobs: 19.5 -> ~7.6 MB resident.
    static func releaseStartupMemory() {
        _ = CBatchd_trim_heap()
        _ = CBatchd_release_code_pages()
    }
}
