import CCurl
import FoundationEssentials
import Glibc
import Synchronization

/// One request as a curl easy handle: its options, the callbacks that collect the answer, and
/// the answer or error when curl is done with it. Made on the caller's thread; from then on
/// touched only by the multi loop's thread (inside curl's callbacks).
final class CurlTransfer: @unchecked Sendable {
    let request: HTTPRequest
    let handle: UnsafeMutableRawPointer?
    let cancelled = Atomic<Bool>(false)
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var body: [UInt8] = []
    private var headers: [(name: String, value: String)] = []
    private var tooLarge = false

    init(request: HTTPRequest) {
        self.request = request
        handle = CCurl_easy_init()
        guard let handle else { return }
        for header in request.headers {
            headerList = CCurl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        if request.body != nil, !request.headers.contains(where: { $0.name.lowercased() == "expect" }) {
            headerList = CCurl_slist_append(headerList, "Expect:")  // no 100-continue round trip
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
        if let credentials = request.basicCredentials {
            _ = CCurl_setopt_long(handle, CURLOPT_HTTPAUTH, 1)  // CURLAUTH_BASIC, a macro Swift cannot see
            _ = CCurl_setopt_string(handle, CURLOPT_USERPWD, credentials)
        }
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
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
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
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            let length = size * count
            guard let data else { return length }
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
                .trimmingWhitespace()
            if line.hasPrefix("HTTP/") {
                transfer.headers = []  // a new response of a redirect chain (or a 100 Continue)
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingSpaces()
                transfer.headers.append((name, value))
            }
            return length
        }
        _ = CCurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        _ = CCurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)
        _ = CCurl_setopt_progress_callback(handle) { context, _, _, _, _ in
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.cancelled.load(ordering: .relaxed) ? 1 : 0
        }
        _ = CCurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context)
    }

    deinit {
        if let handle { CCurl_easy_cleanup(handle) }
        CCurl_slist_free_all(headerList)
    }

    /// What curl's result code means for this request.
    func outcome(_ code: CURLcode) -> Result<HTTPResponse, HTTPClientError> {
        let url = request.url
        guard code == CURLE_OK else {
            if tooLarge { return .failure(.init(.tooLarge, "\(url): the answer is larger than \(request.maximumBodySize) bytes")) }
            if code == CURLE_ABORTED_BY_CALLBACK || cancelled.load(ordering: .relaxed) { return .failure(.init(.cancelled, "\(url): cancelled")) }
            if code == CURLE_OPERATION_TIMEDOUT {
                return .failure(.init(.timeout, "\(url): no answer within \(DurationText.format(request.timeout))"))
            }
            return .failure(.init(.transport, "\(url): \(String(cString: CCurl_easy_strerror(code)))"))
        }
        var status = 0
        if let handle { _ = CCurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status) }
        return .success(HTTPResponse(status: status, headers: headers, body: body))
    }

    /// How many new connections curl opened for this transfer (0 when it reused one).
    var connectionsOpened: Int {
        var count = 0
        if let handle { _ = CCurl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &count) }
        return count
    }
}
