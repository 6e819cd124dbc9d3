import ArgumentParser
import BatchdCore
import FoundationEssentials
import Glibc

extension Batchd {
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List recorded runs, newest first (a table, or JSON Lines with --json)."
        )

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: ArgumentHelp("Only runs of this job.", valueName: "job"))
        var job: String?

        @Option(name: .long, help: ArgumentHelp("Only runs with this status (completed, failed, timeout, cancelled, interrupted).", valueName: "status"))
        var status: String?

        @Option(name: .long, help: "How many runs to show (1 to 100000).")
        var limit: Int = 20

        @Flag(name: .long, help: "Print each run as its JSON line, as recorded.")
        var json = false

        func validate() throws {
            guard (1...100_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 100000 (got \(limit))") }
            if let status, RunStatus(rawValue: status) == nil {
                throw ValidationError("--status must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")) (got '\(status)')")
            }
        }

        func run() throws {
            let location = try options.locateStateOrExit()
            if let job, let config = location.config { _ = try config.jobOrExit(job) }
            let wantedStatus = status.flatMap(RunStatus.init)
            let limit = self.limit, job = self.job
            let runs: [RunRecord] = try BlockingAsync.run {
                do {
                    let store = try JSONLinesHistoryStore(stateDirectory: location.stateDirectory, settings: location.history, role: .reader)
                    return try await store.newest(limit: limit, job: job, status: wantedStatus)
                } catch {
                    Console.error("batchd: error: \(error)")
                    throw ExitCode(1)
                }
            }
            if json {
                Console.print(runs.map { JSONWriter.string($0.json) }.joined(separator: "\n"), skipEmpty: true)
                return
            }
            let now = Date()
            let rows = runs.map { run in
                [String(run.id), run.jobType, run.status.rawValue, run.trigger.rawValue,
                 RelativeTime.describe(run.startedAt, now: now), DurationText.format(.milliseconds(run.durationMs)),
                 String(run.itemsChecked), String(run.itemsUpdated), String((run.error ?? "").prefix(60))]
            }
            Console.print(TextTable.render(header: ["ID", "JOB", "STATUS", "TRIGGER", "STARTED", "DURATION", "CHECKED", "UPDATED", "ERROR"], rows: rows,
                                           style: .standard) { column, cell in column == 2 ? TerminalStyle.color(of: cell) : (column == 8 ? .red : nil) },
                          skipEmpty: true)
            if runs.isEmpty { Console.error("no runs recorded\(job.map { " for \($0)" } ?? "")") }
        }
    }

    struct Reindex: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the history index from the JSON Lines files (with the daemon stopped)."
        )

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let config = try options.loadOrExit()
            let report: String = try BlockingAsync.run {
                do {
                    let store = try JSONLinesHistoryStore(stateDirectory: config.stateDirectory, settings: config.history, rebuildIndexes: true)
                    guard store.role == .owner else {
                        Console.error("batchd: error: a batchd daemon (or once) is using \(config.stateDirectory) right now; the daemon keeps its index current, and rebuilds it at start when it does not match")
                        throw ExitCode(1)
                    }
                    let recovery = await store.recovery
                    var lines = recovery.rebuiltIndexes.map { "reindexed \($0.job)" }
                    lines += recovery.tornLines.map { "cut a torn last line (\($0.bytesCut) bytes) of \($0.file)" }
                    lines += recovery.unreadableLines.map { "\($0.count) unreadable line(s) in \($0.file) left out" }
                    return lines.joined(separator: "\n")
                } catch let error as HistoryError {
                    Console.error("batchd: error: \(error)")
                    throw ExitCode(1)
                }
            }
            Console.print(report.isEmpty ? "no history to index" : report)
        }
    }
}

/// "in 4m", "2h ago": how people read times in a terminal.
enum RelativeTime {
    static func describe(_ date: Date?, now: Date) -> String {
        guard let date else { return "-" }
        let seconds = date.timeIntervalSince(now)
        let magnitude = abs(seconds)
        let text: String
        switch magnitude {
        case ..<1: return "now"
        case ..<60: text = "\(Int(magnitude))s"
        case ..<3600: text = "\(Int(magnitude / 60))m"
        case ..<86_400: text = "\(Int(magnitude / 3600))h\(Int(magnitude.truncatingRemainder(dividingBy: 3600) / 60))m"
        default: text = "\(Int(magnitude / 86_400))d"
        }
        return seconds < 0 ? "\(text) ago" : "in \(text)"
    }
}

/// Columns padded to their widest cell, so the table lines up in a terminal. `paint` colours
/// a cell after it is padded (escape codes take no room on screen); the header is dimmed.
enum TextTable {
    static func render(header: [String], rows: [[String]], style: TerminalStyle = TerminalStyle(environment: [:], isTerminal: false),
                       paint: (_ column: Int, _ cell: String) -> TerminalStyle.Color? = { _, _ in nil }) -> String {
        guard !rows.isEmpty else { return "" }
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.enumerated().map { number, row in
            let cells = row.enumerated().map { index, cell in
                let padded = index == row.count - 1 ? cell : cell.padded(to: widths[index])
                return (padded, number == 0 ? TerminalStyle.Color.dim : paint(index, cell))
            }
            // Trailing spaces go, then colour is put around each cell's text (not its padding).
            var line = ""
            for (index, (padded, color)) in cells.enumerated() {
                let text = index == cells.count - 1 ? padded.trimmingTrailingSpaces : padded
                let visible = text.trimmingTrailingSpaces
                line += style.paint(visible, color) + String(repeating: " ", count: text.count - visible.count)
                if index < cells.count - 1 { line += "  " }
            }
            return line.trimmingTrailingSpaces
        }.joined(separator: "\n")
    }
}

private extension String {
    var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
