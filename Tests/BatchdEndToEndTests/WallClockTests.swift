import Foundation
import Glibc
import Testing

/// `date -s` under a running daemon: the real binary notices and plans its cron jobs again
/// from the clock. The clock is set to what it reads (a step back of a few microseconds), which
/// wakes every daemon on the machine: these tests run on their own (`make test` runs this
/// suite in a step of its own, as root, with BATCHD_SETS_CLOCK=1), never beside the tests that
/// count an idle daemon's wake-ups.
@Suite("The wall clock is set under a running daemon", .enabled(if: ProcessInfo.processInfo.environment["BATCHD_SETS_CLOCK"] == "1"))
struct WallClockTests {
    @Test func cronJobsArePlannedAgainAndKeepTheirFireTime() throws {
        let daemon = try DaemonProcess(config: """
        jobs:
          nightly: { type: noop, enabled: true, cron: '0 3 * * *', timezone: UTC }
          tick: { type: noop, enabled: true, every: 1h }
        """)
        daemon.waitForLine("batchd 0.1.0 started")
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        try #require(clock_settime(CLOCK_REALTIME, &now) == 0, "clock_settime (needs CAP_SYS_TIME): \(String(cString: strerror(errno)))")
        daemon.waitForLine("the wall clock was set: 1 cron job planned again from it")
        let status = try daemon.cli("status", "--json")
        let jobs = (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["jobs"] as? [[String: Any]]
        let nightly = jobs?.first { $0["name"] as? String == "nightly" }
        #expect((nightly?["nextRun"] as? String)?.hasSuffix("T03:00:00.000Z") == true, "\(status.stdout)")
        daemon.signal(SIGTERM)
        #expect(daemon.exitStatus() == 0)
    }
}
