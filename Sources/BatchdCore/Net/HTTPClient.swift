import CCurl
import FoundationEssentials
import Glibc

/// HTTP over the system libcurl, shared by every job type and notification.
///
/// Transfers run on one thread that drives a curl multi handle (`CurlMultiLoop`): blocking
/// network calls never touch Swift's cooperative pool, any number of transfers run at once, and
/// connections are kept and reused between requests to the same host (the multi handle's
/// connection cache), which matters to a checker asking one registry about a thousand images.
/// Task cancellation aborts a transfer at once.
public enum HTTPClient {
    public static let userAgent = "batchd/\(BatchdInfo.version) (+libcurl)"

    /// libcurl is loaded and initialised by the first transfer: a daemon that runs only
    /// commands never maps it (nor TLS and the thirty libraries curl brings). Initialising it
    /// while other threads run is safe where curl is built thread-safe (7.84 and later, as in
    /// Debian 12); before that it was safe as long as no other thread used curl, and none does
    /// before this once-only initialiser returns.
    static let loop: CurlMultiLoop? = {
        guard CCurl_global_init() == CURLE_OK else { return nil }
        return CurlMultiLoop()
    }()

    public static func perform(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        guard let loop else {
            let reason = CCurl_load_error().map { String(cString: $0) } ?? "curl_global_init failed"
            throw HTTPClientError(.transport, "\(request.url): \(reason)")
        }
        let transfer = CurlTransfer(request: request)
        let outcome: Result<HTTPResponse, HTTPClientError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                loop.start(transfer) { continuation.resume(returning: $0) }
            }
        } onCancel: {
            loop.cancel(transfer)
        }
        return try outcome.get()
    }

    /// Transfers made so far to `host:port` and the connections curl opened for them (tests and
    /// benchmarks check that connections are reused).
    public static func statistics(host: String) -> (transfers: Int, connections: Int) {
        loop?.statistics(host: host) ?? (0, 0)
    }
}

/// The version batchd reports in its user agent and `--version`.
public enum BatchdInfo {
    public static let version = "0.1.0"
}
