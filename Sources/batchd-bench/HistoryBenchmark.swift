import BatchdCore
import Foundation

/// `batchd-bench history DIR RUNS`: fills DIR with RUNS runs across 10 jobs through the real
/// store, then times what SPEC section 4 promises: appends per second (fsync off and on, beside
/// the machine's own fdatasync rate), opening the store, and the latest-run queries. Prints one
/// JSON object; bench/run-history puts it beside jq and tail on the same files.
///
/// `batchd-bench fill DIR RUNS`: only the fill, for benchmarks that need a big history
/// (bench/run-http).
@main
struct HistoryBenchmark {
    static func main() async throws {
        // Off the main queue, as the daemon's run tasks are: hops to the store's actor from the
        // main queue would each cost a thread switch that the daemon does not pay.
        try await Task.detached { try await run() }.value
    }

    static func run() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 4, ["history", "fill"].contains(arguments[1]), let total = Int(arguments[3]) else {
            FileHandle.standardError.write(Data("usage: batchd-bench history|fill DIR RUNS\n".utf8))
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
        guard arguments[1] == "history" else {
            print(JSONWriter.string(["runs": .int(Int64(total)), "seconds": .double(bulkSeconds)]))
            return
        }
        results.append(("appendsPerSecondNoFsync", .int(Int64(Double(total) / bulkSeconds))))

        // With fsync, beside the raw fdatasync rate of the same disk, interleaved in short rounds
        // so that each ratio compares like with like on a disk whose speed drifts (a VM's disk
        // here varies by ±15 % from one second to the next); medians over the rounds. The bulk
        // fill left gigabytes of dirty pages: written out first, or their writeback would
        // compete with every sync measured here.
        sync()
        let rounds = 10, single = 300, batches = 30
        var raw: [Double] = [], oneByOne: [Double] = [], together: [Double] = []
        var oneByOneShare: [Double] = [], togetherShare: [Double] = [], syncsPerRun: [Double] = []
        let synced = try JSONLinesHistoryStore(stateDirectory: directory, settings: HistorySettings(maxRunsPerJob: 100_000_000, fsync: true))
        for _ in 0..<rounds {
            let disk = rawFdatasyncRate(directory: directory, count: single)
            raw.append(disk)
            // One run at a time: each append waits for its own sync.
            started = clock.now
            for n in 0..<single {
                try await synced.append(record(try await synced.allocateRunID(), jobs[n % jobs.count]))
            }
            oneByOne.append(Double(single) / (clock.now - started).seconds)
            // Ten runs finishing together, one per job, as the daemon hands them over.
            let syncsBefore = await synced.syncRounds
            started = clock.now
            for _ in 0..<batches {
                var batch: [RunRecord] = []
                for job in jobs { batch.append(record(try await synced.allocateRunID(), job)) }
                try await synced.append(batch)
            }
            together.append(Double(batches * jobs.count) / (clock.now - started).seconds)
            syncsPerRun.append(Double(await synced.syncRounds - syncsBefore) / Double(batches * jobs.count))
            oneByOneShare.append(oneByOne.last! / disk)
            togetherShare.append(together.last! / disk)
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        func range(_ values: [Double]) -> JSONValue { .array([.double(values.min()!), .double(values.max()!)]) }
        for (name, values) in [("machineFdatasyncPerSecond", raw), ("appendsPerSecondFsync", oneByOne),
                               ("appendsPerSecondFsyncTogether", together), ("fsyncShare", oneByOneShare),
                               ("fsyncTogetherShare", togetherShare)] {
            results.append((name, .double(median(values))))
            results.append((name + "Range", range(values)))
        }
        results.append(("syncsPerRunTogether", .double(median(syncsPerRun))))
        results.append(("fsyncRounds", .int(Int64(rounds))))

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
        results.append(("runs", .int(Int64(total + rounds * (single + batches * jobs.count)))))
        print(JSONWriter.string(.object(results)))
    }

    /// 500-byte appends, each followed by fdatasync: the disk's own limit for durable appends.
    static func rawFdatasyncRate(directory: String, count: Int) -> Double {
        let path = "\(directory)/runs/fdatasync-probe"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        defer { close(fd); unlink(path) }
        let line = [UInt8](repeating: 0x61, count: 499) + [0x0A]
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<count {
            _ = write(fd, line, line.count)
            fdatasync(fd)
        }
        return Double(count) / (clock.now - start).seconds
    }
}
