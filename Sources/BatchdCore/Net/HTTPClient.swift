import CCurl
import Foundation

/// HTTP over the system libcurl, shared by every job type and notification.
///
/// Transfers run on one thread that drives a curl multi handle (`CurlMultiLoop`): blocking
/// network calls never touch Swift's cooperative pool, any number of transfers run at once, and
/// connections are kept and reused between requests to the same host (the multi handle's
/// connection cache), which matters to a checker asking one registry about a thousand images.
/// Task cancellation aborts a transfer at once.
public enum HTTPClient {
    public static let userAgent = "batchd/\(BatchdInfo.version) (+libcurl)"

    /// `curl_global_init` must run once before any thread uses curl; the first transfer does it.
    public static let globalInit: Void = {
        _ = CCurl_global_init()
    }()

    /// For the daemon's start, before it starts threads. Where curl's global init is thread-safe
    /// (curl 7.84 and later), it waits for the first transfer instead: a daemon that runs only
    /// commands never initialises TLS (3 MB of resident OpenSSL tables, measured here).
    public static func prepare() {
        if CCurl_global_init_is_thread_safe() == 0 { _ = globalInit }
    }

    static let loop: CurlMultiLoop = {
        _ = globalInit
        return CurlMultiLoop()
    }()

    public static func perform(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
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
        loop.statistics(host: host)
    }
}

/// The version batchd reports in its user agent and `--version`.
public enum BatchdInfo {
    public static let version = "0.1.0"
}
