import CCurl
import FoundationEssentials
import Glibc
import Synchronization

/// The thread that runs every HTTP transfer: one curl multi handle, polled until a transfer
/// needs it, woken (`curl_multi_wakeup`) when one is added or cancelled.
///
/// curl's multi handle is not thread-safe, so other threads only queue requests here; the loop
/// alone calls into the handle. The handle's connection cache keeps connections open between
/// transfers to the same host.
final class CurlMultiLoop: @unchecked Sendable {  // `multi` is used by the loop thread only, but for curl_multi_wakeup, which is thread-safe
    private struct Pending {
        var starts: [(CurlTransfer, @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void)] = []
        var cancels: [CurlTransfer] = []
        /// Per `host:port`: transfers done, connections opened for them.
        var counts: [String: (transfers: Int, connections: Int)] = [:]
    }

    private let multi: UnsafeMutableRawPointer
    private let pending = Mutex(Pending())

    /// nil when libcurl cannot be loaded (`CCurl_load_error` says why).
    init?() {
        guard let multi = CCurl_multi_init() else { return nil }
        self.multi = multi
        OSThread.start(name: "batchd-http") { [self] in run() }
    }

    func start(_ transfer: CurlTransfer, then finish: @escaping @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void) {
        guard transfer.handle != nil else {
            finish(.failure(.init(.transport, "cannot create a curl handle")))
            return
        }
        pending.withLock { $0.starts.append((transfer, finish)) }
        CCurl_multi_wakeup(multi)
    }

    func cancel(_ transfer: CurlTransfer) {
        transfer.cancelled.store(true, ordering: .relaxed)
        pending.withLock { $0.cancels.append(transfer) }
        CCurl_multi_wakeup(multi)
    }

    func statistics(host: String) -> (transfers: Int, connections: Int) {
        pending.withLock { $0.counts[host] ?? (0, 0) }
    }

    private func run() {
        var active: [UnsafeMutableRawPointer: (CurlTransfer, @Sendable (Result<HTTPResponse, HTTPClientError>) -> Void)] = [:]
        while true {
            let (starts, cancels) = pending.withLock { state in
                defer { state.starts = []; state.cancels = [] }
                return (state.starts, state.cancels)
            }
            for (transfer, finish) in starts {
                active[transfer.handle!] = (transfer, finish)
                CCurl_multi_add_handle(multi, transfer.handle)
            }
            for transfer in cancels {
                // A cancelled transfer still in the set ends now, not at its next progress call.
                guard let handle = transfer.handle, let (_, finish) = active.removeValue(forKey: handle) else { continue }
                CCurl_multi_remove_handle(multi, handle)
                finish(transfer.outcome(CURLE_ABORTED_BY_CALLBACK))
            }
            var running: Int32 = 0
            CCurl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = CCurl_multi_info_read(multi, &left) {
                guard CCurl_msg_is_done(message) != 0, let handle = message.pointee.easy_handle,
                      let (transfer, finish) = active.removeValue(forKey: handle) else { continue }
                let code = CCurl_msg_result(message)
                let opened = transfer.connectionsOpened
                CCurl_multi_remove_handle(multi, handle)
                let host = URLComponents(string: transfer.request.url).map { "\($0.host ?? ""):\($0.port ?? 0)" } ?? ""
                pending.withLock {
                    let count = $0.counts[host] ?? (0, 0)
                    $0.counts[host] = (count.transfers + 1, count.connections + opened)
                }
                finish(transfer.outcome(code))
            }
            // curl shortens the wait for its own timers; with nothing to do, only a wakeup ends
            // it, so an idle daemon that has made HTTP requests still never wakes.
            CCurl_multi_poll(multi, active.isEmpty ? Int32.max : 1_000)
        }
    }
}
