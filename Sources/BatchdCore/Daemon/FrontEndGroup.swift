import Logging
import ServiceLifecycle

/// The daemon's front ends running in one `ServiceGroup`. The daemon handles signals itself
/// (a signalfd thread, before any other thread starts), so the group listens to none: the
/// daemon triggers its graceful shutdown once running jobs have drained.
struct FrontEndGroup {
    private let group: ServiceGroup?
    private let task: Task<Void, Never>?

    /// Starts `frontEnds` and returns once each is ready; throws (with everything stopped)
    /// when one cannot start.
    static func start(_ frontEnds: [any DaemonFrontEnd], logger: Logger) async throws -> FrontEndGroup {
        guard !frontEnds.isEmpty else { return FrontEndGroup(group: nil, task: nil) }
        let group = ServiceGroup(configuration: .init(services: frontEnds.map { $0 as any Service }, logger: logger))
        let task = Task {
            do {
                try await group.run()
            } catch {
                logger.error("a front end stopped: \(error)")
            }
        }
        do {
            for frontEnd in frontEnds { try await frontEnd.ready() }
        } catch {
            await group.triggerGracefulShutdown()
            await task.value
            throw error
        }
        return FrontEndGroup(group: group, task: task)
    }

    func stop() async {
        await group?.triggerGracefulShutdown()
        await task?.value
    }
}
