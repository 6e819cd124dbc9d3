import ArgumentParser
import BatchdCore
import FoundationEssentials
import Glibc

extension Batchd {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each job: enabled, running, last and next run, and the last reload."
        )

        @OptionGroup var options: ConfigOptions

        @Flag(name: .long, help: "Print status.json as the daemon wrote it, with daemonRunning added.")
        var json = false

        func run() throws {
            let location = try options.locateStateOrExit()
            let path = "\(location.stateDirectory)/status.json"
            let running = DaemonProbe.isRunning(stateDirectory: location.stateDirectory)
            guard let data = FileManager.default.contents(atPath: path), case .object(var fields)? = try? JSONParser.parse(Array(data)) else {
                Console.error("batchd: no status yet: no daemon has run on \(location.stateDirectory)")
                if json { Console.print(JSONWriter.string(["daemonRunning": .bool(running)])) }
                return
            }
            fields.insert(("daemonRunning", .bool(running)), at: 0)
            let status = JSONValue.object(fields)
            if json {
                Console.print(JSONWriter.string(status))
                return
            }
            let now = Date()
            let style = TerminalStyle.standard
            var lines = ["daemon: " + (running ? style.paint("running", .green) + " (pid \(status["pid"]?.intValue ?? 0))"
                                               : style.paint("not running", .yellow) + "; last status written \(RelativeTime.describe(status["updatedAt"]?.stringValue.flatMap(Timestamp.parse), now: now))")]
            if let reload = status["config"]?["lastReload"], case .object = reload {
                let ok = reload["ok"]?.boolValue ?? false
                lines.append("last reload: " + (ok ? "applied" : style.paint("REFUSED", .red) + ", the previous configuration is running") + " \(RelativeTime.describe(reload["at"]?.stringValue.flatMap(Timestamp.parse), now: now))")
                for error in reload["errors"]?.arrayValue ?? [] { lines.append("  \(error.stringValue ?? "")") }
            }
            let rows = (status["jobs"]?.arrayValue ?? []).map { job -> [String] in
                let last = job["lastRun"]
                let lastText = last.flatMap { $0.isNull ? nil : "\($0["status"]?.stringValue ?? "?") \(RelativeTime.describe($0["startedAt"]?.stringValue.flatMap(Timestamp.parse), now: now))" } ?? "-"
                return [job["name"]?.stringValue ?? "?", (job["enabled"]?.boolValue ?? false) ? "yes" : "no",
                        (job["running"]?.boolValue ?? false) ? "running" : "", lastText,
                        running ? RelativeTime.describe(job["nextRun"]?.stringValue.flatMap(Timestamp.parse), now: now) : "-",
                        job["schedule"]?.stringValue ?? "triggered only"]
            }
            lines.append(TextTable.render(header: ["JOB", "ENABLED", "RUNNING", "LAST RUN", "NEXT RUN", "SCHEDULE"], rows: rows, style: style) { column, cell in
                switch column {
                case 1: cell == "no" ? .dim : nil
                case 2: TerminalStyle.color(of: cell)
                case 3: TerminalStyle.color(of: String(cell.prefix { $0 != " " }))
                default: nil
                }
            })
            Console.print(lines.joined(separator: "\n"))
        }
    }
}

/// Whether a daemon holds the state directory's lock (without taking it for long).
enum DaemonProbe {
    static func isRunning(stateDirectory: String) -> Bool {
        let fd = open("\(stateDirectory)/daemon.lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }
}
