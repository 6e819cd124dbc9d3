/// Checks `after:` across jobs: every name is a job, and no chain of them comes back to itself
/// (a cycle would wait forever, so it is an error at load time rather than a silent stall).
struct DependencyCheck {
    /// One job's `after:` list as written, with positions for the error messages.
    struct Reference {
        var job: String
        var mark: SourceMark
        var targets: [(name: String, mark: SourceMark)]
    }

    let log: DiagnosticLog

    /// `references` holds every declared job, also those with other errors, so that a job with
    /// a typo elsewhere is not reported as unknown here too.
    func check(_ references: [Reference]) {
        let declared = Set(references.map(\.job))
        var edges: [String: [String]] = [:]
        for reference in references {
            for target in reference.targets {
                if declared.contains(target.name) {
                    edges[reference.job, default: []].append(target.name)
                } else {
                    log.error("'after' names unknown job '\(target.name)'\(Suggestion.hint(for: target.name, among: declared.sorted()))", at: target.mark, path: "jobs.\(reference.job).after")
                }
            }
        }
        reportCycles(references, edges: edges)
    }

    /// Depth-first search with colours, iterative so that a long chain cannot exhaust the stack;
    /// each cycle is reported once, at the `after` entry of the job declared first in the file.
    private func reportCycles(_ references: [Reference], edges: [String: [String]]) {
        enum Colour { case white, grey, black }
        var colour = [String: Colour]()
        var reported = Set<Set<String>>()
        let order = Dictionary(references.enumerated().map { ($1.job, $0) }, uniquingKeysWith: { first, _ in first })
        for start in references where colour[start.job, default: .white] == .white {
            var stack: [(name: String, next: Int)] = [(start.job, 0)]
            colour[start.job] = .grey
            while let top = stack.last {
                let targets = edges[top.name] ?? []
                guard top.next < targets.count else {
                    colour[top.name] = .black
                    stack.removeLast()
                    continue
                }
                stack[stack.count - 1].next += 1
                let target = targets[top.next]
                switch colour[target, default: .white] {
                case .white:
                    colour[target] = .grey
                    stack.append((target, 0))
                case .grey:
                    let members = Array(stack.map(\.name).drop { $0 != target })
                    guard reported.insert(Set(members)).inserted else { continue }
                    let firstIndex = members.indices.min { order[members[$0]]! < order[members[$1]]! }!
                    let cycle = Array(members[firstIndex...] + members[..<firstIndex])
                    let successor = cycle.count > 1 ? cycle[1] : cycle[0]
                    let reference = references[order[cycle[0]]!]
                    let mark = reference.targets.first { $0.name == successor }?.mark ?? reference.mark
                    let chain = (cycle + [cycle[0]]).joined(separator: " -> ")
                    log.error("'after' forms a cycle: \(chain)", at: mark, path: "jobs.\(cycle[0]).after")
                case .black:
                    continue
                }
            }
        }
    }
}
