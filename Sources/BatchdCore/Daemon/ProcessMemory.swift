import CBatchdSystem

/// What the daemon does so that it idles at the memory it needs, not at the high-water mark of
/// starting up (bench/RESULTS.md has the figures).
public enum ProcessMemory {
    /// At the very start, before any thread: two malloc arenas at most, and free memory at the
    /// top of a heap returned above 128 KiB (10,000 jobs: 34.7 -> ~25 MB anonymous).
    public static func tuneAllocator() {
        CBatchd_tune_malloc()
    }

    /// Once start-up (or a reload) is over: freed heap goes back to the kernel, and the pages of
    /// the program's files that start-up faulted in (code, read-only data) are unmapped. They
    /// stay in the page cache; what the daemon touches afterwards is mapped again by minor
    /// faults. 100 idle jobs: 19.5 -> ~7.6 MB resident with code alone, ~4 MB with the data too.
    static func releaseStartupMemory() {
        _ = CBatchd_trim_heap()
        _ = releaseFilePages()
    }

    /// The file pages part of `releaseStartupMemory`: bytes unmapped.
    static func releaseFilePages() -> Int {
        Int(CBatchd_release_file_pages())
    }
}
