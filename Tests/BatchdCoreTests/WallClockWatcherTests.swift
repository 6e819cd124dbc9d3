import BatchdCore
import Foundation
import Glibc
import Synchronization
import Testing

/// The wall clock watcher on the real kernel: a CLOCK_REALTIME timerfd and `clock_settime`.
/// The clock is set to what it reads (a step back of a few microseconds), which needs
/// CAP_SYS_TIME and is seen by every process that watches the clock: `make test` runs this
/// suite in a step of its own, as root, with BATCHD_SETS_CLOCK=1.
@Suite("The wall clock watcher", .enabled(if: ProcessInfo.processInfo.environment["BATCHD_SETS_CLOCK"] == "1"))
struct WallClockWatcherTests {
    final class Count: Sendable {
        let value = Atomic<Int>(0)
    }

    /// Sets CLOCK_REALTIME to what it reads now.
    func setTheClockToItself() throws {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        try #require(clock_settime(CLOCK_REALTIME, &now) == 0, "clock_settime (needs CAP_SYS_TIME): \(String(cString: strerror(errno)))")
    }

    /// Waits up to 30 s for `count` settings to have been seen.
    func seen(_ settings: Count, reach count: Int) -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if settings.value.load(ordering: .acquiring) >= count { return true }
            usleep(1000)
        }
        return false
    }

    @Test func eachSettingOfTheClockIsSeenOnce() throws {
        let settings = Count()
        let started = WallClockWatcher.start { settings.value.add(1, ordering: .releasing) }
        try #require(started)
        try setTheClockToItself()
        #expect(seen(settings, reach: 1))
        // The timer stays armed after the first: the second is seen too, and no reading came without one.
        try setTheClockToItself()
        #expect(seen(settings, reach: 2))
        #expect(settings.value.load(ordering: .acquiring) == 2)
    }
}
