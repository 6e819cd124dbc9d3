@testable import BatchdCore
import FoundationEssentials
import Glibc
import Testing

/// Start-up's file pages are given back once it is over (`ProcessMemory.releaseFilePages`): the
/// pages a mapping shares with the page cache go, and a page the process wrote (the loader's
/// relocations) is its only copy and must stay, with what was written to it.
@Suite("Giving start-up's file pages back", .serialized)
struct ProcessMemoryTests {
    static let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Whether the page at `address` is mapped now (bit 63 of its /proc/self/pagemap entry).
    func isMapped(_ address: UnsafeRawPointer) -> Bool {
        let fd = open("/proc/self/pagemap", O_RDONLY)
        defer { close(fd) }
        var entry: UInt64 = 0
        let offset = off_t(UInt(bitPattern: address) / UInt(Self.page) * 8)
        return pread(fd, &entry, 8, offset) == 8 && entry >> 63 & 1 == 1
    }

    /// A file of `pages` pages of `byte`, already unlinked (its mappings still name its path);
    /// the caller closes the descriptor.
    func temporaryFile(pages: Int, of byte: Character) throws -> Int32 {
        let path = "/tmp/batchd-memory-\(getpid())-\(byte)"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        unlink(path)
        let contents = [UInt8](repeating: byte.asciiValue!, count: pages * Self.page)
        try #require(write(fd, contents, contents.count) == contents.count)
        return fd
    }

    @Test func pagesReadFromAFileGoAndAWrittenPageKeepsItsBytes() throws {
        let page = Self.page
        let fd = try temporaryFile(pages: 4, of: "a")
        defer { close(fd) }

        // One mapping only read (as code and read-only data are), one written to and then made
        // read-only (as the loader leaves relocated data): both are "r--p" in /proc/self/maps.
        let readOnly = try #require(mmap(nil, 4 * page, PROT_READ, MAP_PRIVATE, fd, 0).flatMap { $0 == MAP_FAILED ? nil : $0 })
        defer { munmap(readOnly, 4 * page) }
        let relocated = try #require(mmap(nil, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0).flatMap { $0 == MAP_FAILED ? nil : $0 })
        defer { munmap(relocated, 4 * page) }
        var sum = 0
        for number in 0..<4 { sum += Int(readOnly.load(fromByteOffset: number * page, as: UInt8.self)) }
        sum += Int(relocated.load(as: UInt8.self))
        relocated.storeBytes(of: UInt8(ascii: "b"), toByteOffset: page, as: UInt8.self)
        try #require(mprotect(relocated, 4 * page, PROT_READ) == 0)
        #expect(sum == 5 * Int(UInt8(ascii: "a")))
        #expect((0..<4).allSatisfy { isMapped(readOnly + $0 * page) })
        #expect(isMapped(relocated) && isMapped(relocated + page))

        let released = ProcessMemory.releaseFilePages()

        #expect(released >= 5 * page)
        #expect((0..<4).allSatisfy { !isMapped(readOnly + $0 * page) }, "the pages only read are unmapped")
        #expect(!isMapped(relocated), "the relocated mapping's page that was only read is unmapped")
        #expect(isMapped(relocated + page), "the page written to is kept: it is the only copy")
        #expect(relocated.load(fromByteOffset: page, as: UInt8.self) == UInt8(ascii: "b"))
        #expect(readOnly.load(as: UInt8.self) == UInt8(ascii: "a"), "an unmapped page reads the file again")
    }

    /// The daemon's own call hands the release to a thread of its own, a moment later.
    @Test func theDaemonsReleaseHappensOnAThreadOfItsOwn() async throws {
        let page = Self.page
        let fd = try temporaryFile(pages: 1, of: "c")
        defer { close(fd) }
        let mapping = try #require(mmap(nil, page, PROT_READ, MAP_PRIVATE, fd, 0).flatMap { $0 == MAP_FAILED ? nil : $0 })
        defer { munmap(mapping, page) }
        #expect(mapping.load(as: UInt8.self) == UInt8(ascii: "c"))
        try #require(isMapped(mapping))

        ProcessMemory.releaseMemory()

        // Polled, not slept on: the release thread's delay is 100 ms; 30 s bound a starved machine.
        let deadline = ContinuousClock.now + .seconds(30)
        while isMapped(mapping), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(!isMapped(mapping), "the page was not released within 30 s")
    }
}

/// When the status writer gives a spell of runs' memory back: only once nothing runs and nothing
/// is due for half a minute (`StatusFileWriter.isQuiet`).
@Suite("Quiet enough to give memory back")
struct QuietSpellTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func status(_ jobs: [(running: Bool, nextIn: TimeInterval?)]) -> DaemonStatus {
        DaemonStatus(
            pid: 1, startedAt: now, updatedAt: now, configPath: "batch.yaml", configHash: "h", loadedAt: now, lastReload: nil,
            schedulerRunning: true, schedulerInitialized: true,
            jobs: jobs.enumerated().map { number, job in
                DaemonStatus.Job(name: "j\(number)", type: "noop", displayName: "j\(number)", enabled: true, schedule: nil,
                                 running: job.running, lastRun: nil, lastSuccess: nil, nextRun: job.nextIn.map { now + $0 })
            }
        )
    }

    @Test func aRunGoingIsNotQuiet() {
        #expect(!StatusFileWriter.isQuiet(status([(true, 3600), (false, 3600)])))
    }

    @Test func aRunDueWithinHalfAMinuteIsNotQuiet() {
        #expect(!StatusFileWriter.isQuiet(status([(false, 3600), (false, 29)])))
    }

    @Test func nothingDueForHalfAMinuteOrMoreIsQuiet() {
        #expect(StatusFileWriter.isQuiet(status([(false, 3600), (false, 30)])))
    }

    @Test func nothingPlannedAtAllIsQuiet() {
        #expect(StatusFileWriter.isQuiet(status([(false, nil)])))
        #expect(StatusFileWriter.isQuiet(status([])))
    }
}
