/// The history files the store keeps open, the most recently used ones only.
///
/// Why a limit: with a descriptor per job and file kind, a daemon whose ten thousand jobs have
/// each run once holds twenty thousand descriptors. That passes systemd's default soft limit
/// of 1,024 (later opens fail with EMFILE), and every child batchd starts pays for all of
/// them: `posix_spawn` copies the descriptor table and `exec` walks it closing each one, which
/// measured here cost a command job more than the rest of batchd's work for it. Past the limit
/// the least recently used file is closed (its object's deinit closes it) and reopened when
/// its job runs again: an `open` and an `fstat`.
struct DescriptorCache<File: AnyObject> {
    let capacity: Int
    private var files: [String: (file: File, lastUse: UInt64)] = [:]
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
        clock += 1
        if let entry = files[key] {
            files[key] = (entry.file, clock)
            return entry.file
        }
        let file = try open()
        insert(file, for: key)
        return file
    }

    mutating func insert(_ file: File, for key: String) {
        clock += 1
        if files[key] == nil, files.count >= capacity,
           let oldest = files.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
            files[oldest] = nil
        }
        files[key] = (file, clock)
    }

    mutating func remove(_ key: String) {
        files[key] = nil
    }
}
