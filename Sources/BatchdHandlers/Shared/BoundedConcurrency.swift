/// Work over a list with at most `limit` items in flight, as the checkers ask remote services:
/// bounded so that a thousand images do not open a thousand connections at once.
enum BoundedConcurrency {
    /// `body` for each index below `count`, at most `limit` at once, started in index order.
    /// Once `stop` accepts a result, no further item starts (those in flight finish). The
    /// results come back by index; nil for items never started.
    static func map<Value: Sendable>(count: Int, limit: Int, stop: @escaping @Sendable (Value) -> Bool = { _ in false },
                                     _ body: @escaping @Sendable (Int) async -> Value) async -> [Value?] {
        var results = [Value?](repeating: nil, count: count)
        await withTaskGroup(of: (Int, Value).self) { group in
            var next = 0
            var stopped = false
            func startNext() {
                guard next < count, !stopped else { return }
                let index = next
                next += 1
                group.addTask { (index, await body(index)) }
            }
            for _ in 0..<min(max(1, limit), count) { startNext() }
            while let (index, value) = await group.next() {
                results[index] = value
                if stop(value) { stopped = true }
                startNext()
            }
        }
        return results
    }
}
