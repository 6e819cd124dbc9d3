import BatchdCore
import Foundation

/// `batchd-bench history DIR RUNS`: fills DIR with RUNS runs across 10 jobs through the real
/// store, then times what SPEC section 4 promises: appends per second (fsync off and on, beside
/// the machine's own fdatasync rate), opening the store, and the latest-run queries. Prints one
/// JSON object; bench/run-history puts it beside jq and tail on the same files.
@main
struct HistoryBenchmark {
    static func main() async throws {
        // Off the main queue, as the daemon's run tasks are: hops to the store's actor from the
        // main queue would each cost a thread switch that the daemon does not pay.
        try await Task.detached { try await run() }.value
    }

    static func run() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 4, arguments[1] == "history", let total = Int(arguments[3]) else {
            FileHandle.standardError.write(Data("usage: batchd-bench history DIR RUNS\n".utf8))
            exit(2)
        }
        let directory = arguments[2]
        let jobs = (0..<10).map { "job\($0)" }
        let clock = ContinuousClock()
        let base = Date(timeIntervalSince1970: 1_790_000_000)
        func record(_ id: Int64, _ job: String) -> RunRecord {
            RunRecord(id: id, jobType: job, displayName: job, status: id % 7 == 0 ? .failed : .completed, trigger: .schedule,
                      attempt: 1, startedAt: base.addingTimeInterval(Double(id)), completedAt: base.addingTimeInterval(Double(id) + 0.5),
                      itemsChecked: 12, itemsUpdated: Int(id % 3), error: id % 7 == 0 ? "boom" : nil,
                      result: ["updates": [["image": "nginx:latest", "old": "sha256:aaaa", "new": "sha256:bbbb"]]],
                      logs: [LogEntry(timestamp: base, level: .info, message: "checked 12 images")])
        }
        var results: [(String, JSONValue)] = []

        // Fill without fsync: the bulk rate. (A store scope each: one owner at a time.)
        var started = clock.now
        do {
            let bulk = try JSONLinesHistoryStore(stateDirectory: directory, settings: HistorySettings(maxRunsPerJob: 100_000_000, fsync: false))
            started = clock.now
            for n in 0..<total {
                let id = try await bulk.allocateRunID()
                try await bulk.append(record(id, jobs[n % jobs.count]))
            }
        }
        let bulkSeconds = (clock.now - started).seconds
        results.append(("appendsPerSecondNoFsync", .int(Int64(Double(total) / bulkSeconds))))

        // With fsync: a few seconds' worth, beside the raw fdatasync rate of the same disk.
        let syncedCount = 2_000
        do {
            let synced = try JSONLinesHistoryStore(stateDirectory: directory, settings: HistorySettings(maxRunsPerJob: 100_000_000, fsync: true))
            started = clock.now
            for n in 0..<syncedCount {
                let id = try await synced.allocateRunID()
                try await synced.append(record(id, jobs[n % jobs.count]))
            }
        }
        results.append(("appendsPerSecondFsync", .int(Int64(Double(syncedCount) / (clock.now - started).seconds))))
        results.append(("machineFdatasyncPerSecond", .int(Int64(rawFdatasyncRate(directory: directory)))))

        // Opening an existing history: what the daemon's start-up pays.
        var openTimes: [Double] = []
        for _ in 0..<5 {
            started = clock.now
            _ = try JSONLinesHistoryStore(stateDirectory: directory, settings: HistorySettings(fsync: false), role: .reader)
            openTimes.append((clock.now - started).seconds * 1000)
        }
        results.append(("openMs", .double(openTimes.sorted()[2])))

        // The queries, each the median of many.
        let reader = try JSONLinesHistoryStore(stateDirectory: directory, settings: HistorySettings(fsync: false), role: .reader)
        func time(_ repeats: Int, _ body: () async throws -> Void) async rethrows -> Double {
            var samples: [Double] = []
            for _ in 0..<repeats {
                let start = clock.now
                try await body()
                samples.append((clock.now - start).seconds * 1000)
            }
            return samples.sorted()[repeats / 2]
        }
        let latestAll = try await time(101) { _ = try await reader.latestByJob() }
        let byID = try await time(101) { _ = try await reader.run(id: Int64.random(in: 1...Int64(total))) }
        let newest = try await time(101) { _ = try await reader.newest(limit: 50, job: nil, status: nil) }
        results.append(("latestPerJobMs", .double(latestAll)))
        results.append(("runByIDMs", .double(byID)))
        results.append(("newest50Ms", .double(newest)))
        results.append(("runs", .int(Int64(total + syncedCount))))
        print(JSONWriter.string(.object(results)))
    }

    /// 500-byte appends, each followed by fdatasync: the disk's own limit for durable appends.
    static func rawFdatasyncRate(directory: String) -> Double {
        let path = "\(directory)/fdatasync-probe"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        defer { close(fd); unlink(path) }
        let line = [UInt8](repeating: 0x61, count: 499) + [0x0A]
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<2_000 {
            _ = write(fd, line, line.count)
            fdatasync(fd)
        }
        return 2_000 / (clock.now - start).seconds
    }
}
