import BatchdCore
import Synchronization

/// Keeps `StatusAnswers` rendered between changes, so that the busiest endpoints (status, the
/// latest runs) cost a lookup instead of a walk over every job's history and two actors.
///
/// Freshness: every engine event bumps a generation number inside `publish` (an `EventBus`
/// observer), before anything that follows the event (a log line, an HTTP answer) can be
/// seen; answers rendered for an older generation are not served. So an answer never misses
/// an event that happened before the request arrived, and a burst of events costs one
/// rendering, made by the first request after it.
///
/// What it does not see: runs that `batchd once` records beside the daemon (another process)
/// show up with the daemon's next event.
final class StatusCache: Sendable {
    private struct Rendered {
        var generation: UInt64
        var answers: StatusAnswers
    }

    private let generation = Atomic<UInt64>(1)
    private let rendered = Mutex<Rendered?>(nil)
    private let renderer: Renderer

    init(context: DaemonContext) {
        let builder = context.statusBuilder
        let history = context.history
        let state = context.state
        renderer = Renderer {
            let status = await builder.build()
            let newest = try? await history.newest(limit: 1, job: nil, status: nil).first
            return StatusAnswers(status: status, newest: newest, config: state.config)
        }
        context.engine.events.observe { [weak self] _ in self?.invalidate() }
    }

    func invalidate() {
        generation.add(1, ordering: .releasing)
    }

    /// The answers, when they are up to date; nil when they must be rendered again.
    func current() -> StatusAnswers? {
        let now = generation.load(ordering: .acquiring)
        return rendered.withLock { $0?.generation == now ? $0?.answers : nil }
    }

    /// Up-to-date answers, rendering them when needed (one rendering at a time serves every
    /// request waiting for it).
    func fresh() async -> StatusAnswers {
        if let current = current() { return current }
        let wanted = generation.load(ordering: .acquiring)
        let (made, madeFor) = await renderer.render(atLeast: wanted)
        rendered.withLock { stored in
            if (stored?.generation ?? 0) < madeFor { stored = Rendered(generation: madeFor, answers: made) }
        }
        return made
    }

    /// Renders for a generation, sharing a rendering in progress that started late enough.
    private actor Renderer {
        private let make: @Sendable () async -> StatusAnswers
        private var inFlight: (generation: UInt64, task: Task<StatusAnswers, Never>)?

        init(make: @escaping @Sendable () async -> StatusAnswers) {
            self.make = make
        }

        func render(atLeast generation: UInt64) async -> (StatusAnswers, UInt64) {
            if let inFlight, inFlight.generation >= generation {
                return (await inFlight.task.value, inFlight.generation)
            }
            let make = self.make
            let task = Task { await make() }
            inFlight = (generation, task)
            return (await task.value, generation)
        }
    }
}
