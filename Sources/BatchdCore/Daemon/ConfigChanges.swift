/// One line saying what a reload changed: `+new-job, -old-job, job: intervalMinutes 60 -> 30`.
struct ConfigChanges {
    let old: BatchConfig
    let new: BatchConfig

    var summary: String {
        let oldNames = Set(old.jobs.map(\.name)), newNames = Set(new.jobs.map(\.name))
        var parts = new.jobs.filter { !oldNames.contains($0.name) }.map { "+\($0.name)" }
        parts += old.jobs.filter { !newNames.contains($0.name) }.map { "-\($0.name)" }
        for job in new.jobs {
            guard let before = old.job(named: job.name) else { continue }
            var changes: [String] = []
            if before.schedule != job.schedule {
                changes.append("schedule \(before.schedule?.summary ?? "none") -> \(job.schedule?.summary ?? "none")")
            }
            if before.enabled != job.enabled { changes.append("enabled \(before.enabled) -> \(job.enabled)") }
            if before.timeout != job.timeout {
                changes.append("timeout \(DurationText.format(before.timeout)) -> \(DurationText.format(job.timeout))")
            }
            if !changes.isEmpty { parts.append("\(job.name): \(changes.joined(separator: ", "))") }
        }
        if old.stateDirectory != new.stateDirectory { parts.append("stateDir changed: needs a restart, ignored") }
        if old.http != new.http { parts.append("http changed: needs a restart, ignored") }
        if old.logFormat != new.logFormat || old.logLevel != new.logLevel {
            parts.append("logFormat/logLevel changed: takes effect at the next start")
        }
        return parts.isEmpty ? "no job changed" : parts.joined(separator: ", ")
    }
}
