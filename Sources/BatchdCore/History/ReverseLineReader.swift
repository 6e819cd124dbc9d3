import FoundationEssentials
import Glibc

/// Reads a file's lines from the end towards the start, a chunk at a time: the latest runs are
/// at the end, so "the latest run" costs one small read however long the file is.
struct ReverseLineReader {
    private let fd: Int32
    private var position: off_t
    private var pending: [UInt8] = []
    private let chunkSize: Int

    init(fd: Int32, size: off_t, chunkSize: Int = 64 * 1024) {
        self.fd = fd
        self.position = size
        self.chunkSize = chunkSize
    }

    /// The previous complete line (without its newline) and the offset where it starts.
    mutating func previousLine() -> (line: [UInt8], offset: off_t)? {
        while true {
            // `pending` holds the bytes from `position` up to the end of the unread part.
            if let newline = pending.lastIndex(of: 0x0A, before: pending.count - (pending.last == 0x0A ? 1 : 0)) {
                var line = Array(pending[(newline + 1)...])
                if line.last == 0x0A { line.removeLast() }
                pending.removeSubrange((newline + 1)...)
                return (line, position + off_t(newline + 1))
            }
            if position == 0 {
                guard !pending.isEmpty else { return nil }
                var line = pending
                if line.last == 0x0A { line.removeLast() }
                pending = []
                return (line, 0)
            }
            let readSize = Int(min(off_t(chunkSize), position))
            position -= off_t(readSize)
            var chunk = [UInt8](repeating: 0, count: readSize)
            let count = pread(fd, &chunk, readSize, position)
            guard count == readSize else { return nil }
            pending = chunk + pending
        }
    }
}

private extension Array where Element == UInt8 {
    func lastIndex(of byte: UInt8, before end: Int) -> Int? {
        var index = end - 1
        while index >= 0 {
            if self[index] == byte { return index }
            index -= 1
        }
        return nil
    }
}
