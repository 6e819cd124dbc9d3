import BatchdCore
import FoundationEssentials
import Glibc

/// Colour for `status` and `runs`, only where a person reads it: stdout is a terminal, `NO_COLOR`
/// is not set (https://no-color.org: any non-empty value turns colour off) and `TERM` is not
/// `dumb`. Piped into `grep` or a file, the output has no escape codes.
struct TerminalStyle {
    let enabled: Bool

    static let standard = TerminalStyle(environment: ProcessInfo.processInfo.environment, isTerminal: isatty(STDOUT_FILENO) == 1)

    init(environment: [String: String], isTerminal: Bool) {
        let noColor = !(environment["NO_COLOR"] ?? "").isEmpty
        enabled = isTerminal && !noColor && environment["TERM"] != "dumb"
    }

    enum Color: String {
        case red = "31", green = "32", yellow = "33", blue = "34", dim = "2", bold = "1"
    }

    func paint(_ text: String, _ color: Color?) -> String {
        guard enabled, let color, !text.isEmpty else { return text }
        return "\u{1B}[\(color.rawValue)m\(text)\u{1B}[0m"
    }

    /// How a run status reads at a glance.
    static func color(of status: String) -> Color? {
        switch status {
        case RunStatus.completed.rawValue: .green
        case RunStatus.failed.rawValue, RunStatus.timeout.rawValue: .red
        case RunStatus.cancelled.rawValue, RunStatus.interrupted.rawValue: .yellow
        case "running": .blue
        default: nil
        }
    }
}
