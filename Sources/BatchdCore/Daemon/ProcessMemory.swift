import CBatchdSystem

/// What the daemon does so that it idles at the memory it needs, not at the high-water mark of
/// starting up (bench/RESULTS.md has the figures).
public enum ProcessMemory {
    /// At the very start, before any thread: two malloc arenas at most, and free memory at the
    /// top of a heap returned above 128 KiB (10,000 jobs: 34.7 -> ~25 MB anonymous).
    public static func tuneAllocator() {
        CBatchd_tune_malloc()
    }

    /// Once start-up, a reload or a spell of runs is over: freed heap goes back to the kernel, and
    /// the pages of the program's files that the work faulted in (code, read-only data) are unmapped. They
    /// stay in the page cache; what the daemon touches afterwards is mapped again by minor
    /// faults, 64 KiB around each page it touches (the kernel's fault-around).
    ///
    /// Done a moment later (`releaseDelay`), on a short-lived thread of its own, not by the
    /// caller: by then the other threads have gone to sleep, so the code that puts them to sleep
    /// has run, and only the release thread's own end runs after the release. Released in the
    /// caller's task, the writer's loop and the executor's parking ran next and mapped a megabyte
    /// of code straight back. 100 idle jobs, resident: 7.6 MB with code alone released, 3.9 MB
    /// with the read-only data too, 2.4 MB released from a thread of its own.
    static func releaseMemory() {
        if CBatchd_release_memory_later(Int32(releaseDelay.milliseconds)) != 0 {
            trimHeap()  // no thread to do it later: now, then
            _ = releaseFilePages()
        }
    }

    /// The heap part of `releaseMemory`, now.
    static func trimHeap() {
        _ = CBatchd_trim_heap()
    }

    /// How long after the end of the work the release waits.
    static let releaseDelay = Duration.milliseconds(100)

    /// The file pages part of `releaseMemory`, done now: bytes unmapped.
    static func releaseFilePages() -> Int {
        Int(CBatchd_release_file_pages())
    }
}
