/// The history files the store keeps open, the most recently used ones only.
///
/// Why a limit: a process may hold only so many descriptors (systemd gives a service a soft
/// limit of 1,024, and later opens fail with EMFILE), and a daemon whose ten thousand jobs have
/// each run would hold twenty thousand. `DescriptorBudget` sets the capacity from the limit the
/// process has (the daemon raises its own first), and keeps the daemon's children from paying
/// for the files it holds. Past the capacity the least recently used file is closed (its
/// object's deinit closes it) and reopened when its job runs again: an `open` and an `fstat`.
///
/// The least recently used file is found through `uses`, a queue of (key, use) pairs in the
/// order of use in which only a key's latest pair counts: eviction pops stale pairs until it
/// meets a current one. That is O(1) amortised; scanning every open file for the oldest, as
/// before, was 5 % of a burst of no-op runs over 5,000 jobs (every append evicts one).
struct DescriptorCache<File: AnyObject> {
    let capacity: Int
    private var files: [String: (file: File, lastUse: UInt64)] = [:]
    private var uses: [(key: String, use: UInt64)] = []
    private var oldestUse = 0  // where `uses` starts: the pairs before it are popped
    private var clock: UInt64 = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    func peek(_ key: String) -> File? {
        files[key]?.file
    }

    /// The open file for `key`, opened with `open` when it is not (evicting the least recently
    /// used one when full).
    mutating func file<E: Error>(_ key: String, open: () throws(E) -> File) throws(E) -> File {
        if let entry = files[key] {
            touch(key, entry.file)
            return entry.file
        }
        let file = try open()
        insert(file, for: key)
        return file
    }

    mutating func insert(_ file: File, for key: String) {
        if files[key] == nil, files.count >= capacity { evictOldest() }
        touch(key, file)
    }

    mutating func remove(_ key: String) {
        files[key] = nil
    }

    private mutating func touch(_ key: String, _ file: File) {
        clock += 1
        files[key] = (file, clock)
        uses.append((key, clock))
        // Stale pairs pile up while the same few files are used over and over: drop them once
        // they are most of the queue.
        if uses.count > 4 * capacity + 64 { compactUses() }
    }

    private mutating func evictOldest() {
        while oldestUse < uses.count {
            let (key, use) = uses[oldestUse]
            oldestUse += 1
            if files[key]?.lastUse == use {
                files[key] = nil
                return
            }
        }
    }

    private mutating func compactUses() {
        uses = uses[oldestUse...].filter { files[$0.key]?.lastUse == $0.use }
        oldestUse = 0
    }
}
