import CBatchdSystem
import Glibc

/// How many history files a process keeps open, and where their descriptors live.
///
/// The history keeps the files of the jobs that ran last open (`DescriptorCache`): reopening a
/// job's `.jsonl` and `.idx` is two `open`s and two `close`s, a fifth of a no-op run's CPU when
/// 5,000 jobs take turns. Those descriptors used to cost every child batchd starts (its spawn
/// copied the whole table and `execve` closed each entry: 0.8-1.2 ms more per spawn with twenty
/// thousand), so the cache was kept at 64 files a kind. Now the daemon keeps them at or above a
/// band that its children do not copy (`CBatchd_set_descriptor_band`, `CBatchd_move_to_band`),
/// and what bounds the cache is the descriptor limit alone.
///
/// The daemon raises its soft limit towards `wantedLimit` (as systemd advises a service that
/// needs many files to do itself); its children get the limit it was started with back.
enum DescriptorBudget {
    /// Descriptors below the band are for everything else: the daemon's own, the pipes of its
    /// running children (three each), HTTP connections and libcurl's sockets.
    static let ownShare = 1024
    static let wantedLimit = 65_536
    /// Beyond this many jobs, the least recently run reopen their files.
    static let mostPerKind = 16_384

    /// Raises the limit and sets the band; once, when the daemon starts, before the history opens.
    static func claimForDaemon() {
        let limit = CBatchd_raise_descriptor_limit(wantedLimit)
        guard limit > 0 else { return }
        CBatchd_set_descriptor_band(Int32(band(limit: limit)))
    }

    static func band(limit: Int) -> Int {
        min(ownShare, limit / 2)
    }

    /// Files of each kind (`.jsonl`, `.idx`) the history may keep open under `limit`: what the
    /// band leaves, less a margin, halved. 42 each under a limit of 200; 16,384 under 65,536.
    static func filesPerKind(limit: Int) -> Int {
        max(8, min(mostPerKind, (limit - band(limit: limit) - 16) / 2))
    }

    static var filesPerKind: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 64 }
        return filesPerKind(limit: Int(clamping: min(limit.rlim_cur, rlim_t(wantedLimit))))
    }
}
