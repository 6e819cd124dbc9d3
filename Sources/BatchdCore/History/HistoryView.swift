import FoundationEssentials
import Glibc

/// One job's history as queries see it: the index, plus the lines at the end of the file that
/// the index does not cover yet (appended by another process since the owner last indexed).
final class HistoryView {
    let index: JobIndex
    let file: String
    private let fd: Int32
    private let tail: [JobIndex.Entry]

    init(index: JobIndex, file: String) throws(HistoryError) {
        self.index = index
        self.file = file
        fd = open(file, O_RDONLY | O_CLOEXEC)
        let size = LineScanner.size(of: file)
        let indexedEnd = index.last?.end ?? 0
        tail = indexedEnd < size ? try LineScanner.entries(of: file, from: indexedEnd, to: size).entries : []
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Up to `limit` entries accepted by `condition`, newest first.
    func newestFirst(limit: Int, where condition: (JobIndex.Entry) -> Bool) throws(HistoryError) -> [JobIndex.Entry] {
        var found: [JobIndex.Entry] = []
        for entry in tail.reversed() where condition(entry) {
            found.append(entry)
            if found.count >= limit { return found }
        }
        index.visitNewestFirst { entry in
            if condition(entry) { found.append(entry) }
            return found.count < limit
        }
        return found
    }

    func find(id: Int64) -> JobIndex.Entry? {
        tail.first { $0.id == id } ?? index.find(id: id)
    }

    func record(_ entry: JobIndex.Entry) throws(HistoryError) -> RunRecord? {
        guard fd >= 0 else { return nil }
        return LineScanner.record(at: entry, fd: fd)
    }
}
