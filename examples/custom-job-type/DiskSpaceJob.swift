import BatchdCore
import FoundationEssentials
import Glibc

/// `type: disk-space`: fails when a filesystem has less free space than `minimumFreePercent`.
///
/// This file is the whole of a job type. To ship it with batchd, copy it into
/// `Sources/BatchdHandlers/` and add `DiskSpaceJob.self` to the list in `BuiltInJobTypes.swift`.
/// (batchd's own tests compile this very file, so it stays correct.)
///
/// ```yaml
/// jobs:
///   disk-space:
///     enabled: true
///     every: 10m
///     paths: [/, /var/lib/docker]
///     minimumFreePercent: 10
/// ```
public struct DiskSpaceJob: JobHandler {
    public static let typeName = "disk-space"
    public static let displayName = "Disk Space Check"

    public var paths: [String]
    public var minimumFreePercent: Int

    /// Reads the type's own keys. Ask for every key you know, even after a problem: what you ask
    /// for is your vocabulary, and anything else in the job is reported as an unknown key.
    public init?(settings: ConfigMapping) {
        let paths = settings.required("paths", "the filesystems to check, e.g. [/]")?.asStringList()
        minimumFreePercent = settings.value("minimumFreePercent")?.asInt(in: 0...100) ?? 10
        guard let paths, !paths.isEmpty else { return nil }
        self.paths = paths
    }

    /// One run: log through `context.logger` (it lands in the run record), return the counters,
    /// throw `JobFailure` to fail the run (with what was gathered so far).
    public func run(_ context: JobContext) async throws -> JobResult {
        var report: [(String, JSONValue)] = []
        var low: [String] = []
        for path in paths {
            var info = statvfs()
            guard statvfs(context.resolve(path), &info) == 0 else {
                throw JobFailure("\(path): \(String(cString: strerror(errno)))")
            }
            let freePercent = info.f_blocks == 0 ? 100 : Int(info.f_bavail * 100 / info.f_blocks)
            context.logger.info("\(path): \(freePercent)% free")
            report.append((path, .int(Int64(freePercent))))
            if freePercent < minimumFreePercent { low.append(path) }
        }
        let result = JobResult(itemsChecked: paths.count, itemsUpdated: 0, result: ["freePercent": .object(report)])
        guard low.isEmpty else {
            throw JobFailure("below \(minimumFreePercent)% free: \(low.joined(separator: ", "))", partial: result)
        }
        return result
    }
}
