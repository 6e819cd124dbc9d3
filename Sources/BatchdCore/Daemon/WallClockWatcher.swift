import CBatchdSystem
import Glibc

/// Notices when the wall clock is set: `date -s`, an NTP step at boot on a machine without a
/// real-time clock (a Raspberry Pi starts at its last shutdown time), a VM restored from a
/// snapshot. Cron due times are kept on the monotonic clock, which such a step does not move,
/// so without this a daily 03:00 job planned before the step would run at the old clock's
/// 03:00.
///
/// A CLOCK_REALTIME timerfd armed with TFD_TIMER_CANCEL_ON_SET never expires; its `read`
/// fails when the clock is set. One thread sleeps in that `read`: no wake-ups otherwise.
/// NTP's gradual slewing sets nothing and needs nothing: it moves the monotonic clock alike.
public enum WallClockWatcher {
    /// Calls `onSet` after each setting of the wall clock, from a thread of its own. False when
    /// the kernel offers no such timer (the daemon then goes on without it).
    @discardableResult
    public static func start(onSet: @escaping @Sendable () -> Void) -> Bool {
        let fd = CBatchd_clock_set_fd()
        guard fd >= 0 else { return false }
        OSThread.start(name: "batchd-clock", stackSize: 64 * 1024) {
            while CBatchd_wait_clock_set(fd) == 1 { onSet() }
            close(fd)
        }
        return true
    }
}
