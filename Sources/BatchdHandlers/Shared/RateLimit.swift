import BatchdCore
import FoundationEssentials
import Glibc

/// What a server said about its request quota when it refused a request for exceeding it
/// (HTTP 429, or GitHub's 403 with no requests left), and when asking again makes sense.
///
/// Headers read: `RateLimit-Limit` / `RateLimit-Remaining` (`100;w=21600`, Docker Hub),
/// `RateLimit-Reset` (seconds from now, or Unix time when that large), `Retry-After` (seconds or
/// an HTTP date), and GitHub's `x-ratelimit-limit` / `-remaining` / `-reset` (Unix time).
struct RateLimit: Sendable, Equatable {
    var limit: Int?
    var remaining: Int?
    /// The quota's window in seconds (`;w=` of the RateLimit headers).
    var window: Int?
    var resetAt: Date?

    init(limit: Int? = nil, remaining: Int? = nil, window: Int? = nil, resetAt: Date? = nil) {
        self.limit = limit
        self.remaining = remaining
        self.window = window
        self.resetAt = resetAt
    }

    init(_ response: HTTPResponse, now: Date) {
        func number(_ name: String) -> (value: Int, window: Int?)? {
            guard let text = response.header(name) else { return nil }
            let parts = text.split(separator: ";").map { $0.trimmingSpaces() }
            guard let first = parts.first, let value = Int(first) else { return nil }
            let window = parts.dropFirst().first { $0.hasPrefix("w=") }.flatMap { Int($0.dropFirst(2)) }
            return (value, window)
        }
        let limit = number("ratelimit-limit") ?? number("x-ratelimit-limit")
        let remaining = number("ratelimit-remaining") ?? number("x-ratelimit-remaining")
        self.limit = limit?.value
        self.remaining = remaining?.value
        window = limit?.window ?? remaining?.window
        var reset: Date?
        if let value = number("ratelimit-reset")?.value ?? number("x-ratelimit-reset")?.value {
            reset = value > 1_000_000_000 ? Date(timeIntervalSince1970: Double(value)) : now.addingTimeInterval(Double(value))
        }
        if let retryAfter = response.header("retry-after") {
            if let seconds = Int(retryAfter.trimmingSpaces()) {
                reset = max(reset ?? .distantPast, now.addingTimeInterval(Double(seconds)))
            } else if let date = Self.httpDate(retryAfter) {
                reset = max(reset ?? .distantPast, date)
            }
        }
        resetAt = reset
    }

    /// GitHub says "no requests left" with a 403 as well as a 429.
    static func isExhausted(_ response: HTTPResponse) -> Bool {
        response.status == 429 || (response.status == 403 && (response.header("x-ratelimit-remaining") == "0" || response.header("retry-after") != nil))
    }

    /// What a person reads: who refused, the quota, when to retry, what to do about it.
    func message(service: String, advice: String, now: Date) -> String {
        var text = "\(service) rate limit reached"
        switch (remaining, limit) {
        case let (remaining?, limit?): text += ": \(remaining) of \(limit) requests left"
        case let (remaining?, nil): text += ": \(remaining) requests left"
        default: break
        }
        if let window { text += " in the \(DurationText.format(.seconds(window))) window" }
        if let resetAt {
            let wait = max(0, resetAt.timeIntervalSince(now))
            text += "; the quota resets at \(Timestamp.iso8601(resetAt)) (in \(DurationText.format(.seconds(Int64(wait.rounded(.up))))))"
            text += ", when the retry runs"
        } else {
            text += "; the server gave no reset time, so the retry follows the job's retry policy"
        }
        return text + ". \(advice)"
    }

    /// An HTTP date in the form servers send (RFC 9110's IMF-fixdate):
    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func httpDate(_ text: String) -> Date? {
        let parts = text.trimmingSpaces().split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT" || parts[5] == "UTC",
              let day = Int(parts[1]), let monthIndex = months.firstIndex(of: String(parts[2])), let year = Int(parts[3]),
              (1...CivilDate.daysIn(month: monthIndex + 1, year: year)).contains(day) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2]) else { return nil }
        let days = CivilDate(year: year, month: monthIndex + 1, day: day).dayNumber
        return Date(timeIntervalSince1970: TimeInterval(days * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2]))
    }
}
