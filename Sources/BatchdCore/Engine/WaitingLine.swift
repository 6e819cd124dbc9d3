/// The runs that are due while `maxConcurrentJobs` runs are going: a binary heap on priority
/// (higher first), then due time, then arrival, so that ten thousand jobs due at midnight cost
/// a logarithm each to queue and to start, not a sort or a shift of the whole line.
///
/// The heap's keys are plain numbers: with the job's name in them, every comparison and swap
/// on the way down the heap retained and released a string, 8 % of a burst of no-op runs with
/// 5,000 waiting. The name is found from the arrival number when a key comes off the top.
struct WaitingLine {
    private struct Key: Comparable {
        var priority: Int
        var dueAt: ContinuousClock.Instant
        var arrival: UInt64

        /// "Starts before".
        static func < (a: Key, b: Key) -> Bool {
            if a.priority != b.priority { return a.priority > b.priority }
            if a.dueAt != b.dueAt { return a.dueAt < b.dueAt }
            return a.arrival < b.arrival
        }
    }

    private var heap: [Key] = []
    /// The requests, by job: the heap holds small keys, not whole configurations. A key whose
    /// job is no longer here (cancelled) is skipped when it comes up.
    private var requests: [String: (request: JobManager.Request, arrival: UInt64)] = [:]
    /// The job of each key in the heap.
    private var names: [UInt64: String] = [:]
    private var arrivals: UInt64 = 0

    var isEmpty: Bool { requests.isEmpty }

    func contains(_ job: String) -> Bool {
        requests[job] != nil
    }

    mutating func add(_ request: JobManager.Request) {
        arrivals += 1
        requests[request.job.name] = (request, arrivals)
        names[arrivals] = request.job.name
        heap.append(Key(priority: request.job.priority, dueAt: request.dueAt, arrival: arrivals))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child] < heap[parent] else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Takes `job` out of the line; false when it was not waiting.
    mutating func remove(_ job: String) -> Bool {
        requests.removeValue(forKey: job) != nil
    }

    /// The run to start next, taken out of the line.
    mutating func next() -> JobManager.Request? {
        while let top = popTop() {
            guard let name = names.removeValue(forKey: top.arrival) else { continue }
            if let entry = requests[name], entry.arrival == top.arrival {
                requests[name] = nil
                return entry.request
            }
        }
        return nil
    }

    private mutating func popTop() -> Key? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var first = parent
            if left < heap.count, heap[left] < heap[first] { first = left }
            if right < heap.count, heap[right] < heap[first] { first = right }
            guard first != parent else { break }
            heap.swapAt(parent, first)
            parent = first
        }
        return top
    }
}
