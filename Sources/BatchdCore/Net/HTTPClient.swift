import CCurl
import Foundation
import Synchronization

/// One HTTP request, as every job type and notification sends it.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    public var timeout: Duration
    public var followRedirects: Bool
    /// Answers larger than this are refused: a broken or hostile server cannot fill memory.
    public var maximumBodySize: Int

    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil,
                timeout: Duration = .seconds(30), followRedirects: Bool = true, maximumBodySize: Int = 16 << 20) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.followRedirects = followRedirects
        self.maximumBodySize = maximumBodySize
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names in lower case, in the order received, of the last response of a redirect chain.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name == wanted }?.value
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// HTTP over the system libcurl. Each transfer runs `curl_easy_perform` (which blocks) on a
/// thread of its own, never on Swift's cooperative pool; task cancellation aborts it through
/// curl's progress callback.
public enum HTTPClient {
    public static let userAgent = "batchd/\(BatchdInfo.version) (+libcurl)"

    /// `curl_global_init` must run once before any thread uses curl; the daemon touches this
    /// at start-up, and every transfer does too.
    public static let globalInit: Void = {
        _ = CCurl_global_init()
    }()

    public static func perform(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        _ = globalInit
        let transfer = Transfer(request: request)
        let outcome: Result<HTTPResponse, HTTPClientError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread { continuation.resume(returning: transfer.perform()) }
                thread.name = "batchd-http"
                thread.start()
            }
        } onCancel: {
            transfer.cancelled.store(true, ordering: .relaxed)
        }
        return try outcome.get()
    }
}

/// The state of one transfer, reached from curl's C callbacks through an unmanaged pointer.
private final class Transfer: @unchecked Sendable {
    let request: HTTPRequest
    let cancelled = Atomic<Bool>(false)
    // Touched only by the transfer's thread (inside curl_easy_perform's callbacks).
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
    var tooLarge = false

    init(request: HTTPRequest) {
        self.request = request
    }

    func perform() -> Result<HTTPResponse, HTTPClientError> {
        guard let handle = curl_easy_init() else { return .failure(.init(description: "cannot create a curl handle")) }
        defer { curl_easy_cleanup(handle) }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for header in request.headers {
            headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        if request.body != nil, !request.headers.contains(where: { $0.name.lowercased() == "expect" }) {
            headerList = curl_slist_append(headerList, "Expect:")  // no 100-continue round trip
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = CCurl_setopt_string(handle, CURLOPT_URL, request.url)
        _ = CCurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = CCurl_setopt_string(handle, CURLOPT_USERAGENT, HTTPClient.userAgent)
        _ = CCurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = CCurl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        _ = CCurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, request.followRedirects ? 1 : 0)
        _ = CCurl_setopt_long(handle, CURLOPT_MAXREDIRS, 5)
        _ = CCurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(request.timeout.milliseconds))
        _ = CCurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(min(request.timeout, .seconds(10)).milliseconds))
        _ = CCurl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "")
        _ = CCurl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)
        switch request.method {
        case "GET": break
        case "HEAD": _ = CCurl_setopt_long(handle, CURLOPT_NOBODY, 1)
        default: _ = CCurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if let body = request.body {
            _ = CCurl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, body.count)
            _ = body.withUnsafeBytes { CCurl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)) }
        }
        _ = CCurl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            if transfer.body.count + length > transfer.request.maximumBodySize {
                transfer.tooLarge = true
                return 0  // makes curl stop with CURLE_WRITE_ERROR
            }
            if let data { transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length)) }
            return length
        }
        _ = CCurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = CCurl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            guard let data else { return length }
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if line.hasPrefix("HTTP/") {
                transfer.headers = []  // a new response of a redirect chain (or a 100 Continue)
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                transfer.headers.append((name, value))
            }
            return length
        }
        _ = CCurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        _ = CCurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
        _ = CCurl_setopt_progress_callback(handle) { context, _, _, _, _ in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.cancelled.load(ordering: .relaxed) ? 1 : 0
        }
        _ = CCurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context)

        let code = curl_easy_perform(handle)
        guard code == CURLE_OK else {
            if tooLarge { return .failure(.init(description: "\(request.url): the answer is larger than \(request.maximumBodySize) bytes")) }
            if code == CURLE_ABORTED_BY_CALLBACK { return .failure(.init(description: "\(request.url): cancelled")) }
            if code == CURLE_OPERATION_TIMEDOUT {
                return .failure(.init(description: "\(request.url): no answer within \(DurationText.format(request.timeout))"))
            }
            return .failure(.init(description: "\(request.url): \(String(cString: curl_easy_strerror(code)))"))
        }
        var status = 0
        _ = CCurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, headers: headers, body: body))
    }
}

/// The version batchd reports in its user agent and `--version`.
public enum BatchdInfo {
    public static let version = "0.1.0"
}
