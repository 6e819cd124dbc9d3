import ArgumentParser
import BatchdCore
import FoundationEssentials
import Glibc

extension Batchd {
    struct Next: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the next fire times of each job, in local time and UTC."
        )

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: ArgumentHelp("Only this job.", valueName: "job"))
        var job: String?

        @Option(name: .long, help: "How many fire times to print per job (1 to 1000).")
        var count: Int = 5

        func validate() throws {
            guard (1...1000).contains(count) else {
                throw ValidationError("--count must be between 1 and 1000 (got \(count))")
            }
        }

        func run() throws {
            let config = try options.loadOrExit()
            var jobs = config.jobs
            if let job {
                jobs = [try config.jobOrExit(job)]
            }
            let now = Date()
            let text = jobs.map { FireTimeReport(job: $0, now: now, count: count).text }.joined(separator: "\n")
            Console.print(text)
        }
    }
}

/// The `next` listing of one job: a heading with its schedule, then one line per fire time.
struct FireTimeReport {
    let job: JobConfig
    let now: Date
    let count: Int

    var text: String {
        var heading = "\(job.name): "
        heading += job.schedule?.summary ?? (job.after.isEmpty ? "no schedule (runs when triggered)" : "no schedule")
        if !job.after.isEmpty { heading += ", after \(job.after.joined(separator: ", "))" }
        if job.jitter > .zero { heading += ", jitter \(DurationText.format(job.jitterOffset)) of \(DurationText.format(job.jitter))" }
        if !job.enabled { heading += " [disabled: will not run on schedule]" }
        guard let schedule = job.schedule else { return heading }
        var lines = [heading]
        if case .interval = schedule {
            lines.append("  (counted from the last successful run; with none recorded, due at start)")
        }
        let zone: ZoneRules
        if case .cron(let zoned) = schedule { zone = zoned.timeZone } else { zone = .local }
        let jitter = job.jitterOffset.seconds
        for fire in schedule.fireTimes(after: now, lastSuccess: nil, count: count) {
            let at = fire.addingTimeInterval(jitter)
            lines.append("  \(Timestamp.local(at, in: zone))  \(Timestamp.iso8601(at))")
        }
        return lines.joined(separator: "\n")
    }
}
