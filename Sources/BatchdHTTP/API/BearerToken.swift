import NIOHTTP1

/// The token that unlocks the write endpoints, from the variable `http.tokenEnv` names.
struct BearerToken: Sendable {
    private let expected: [UInt8]

    /// Nil when no variable is named, or it is unset or empty: the write endpoints stay locked.
    init?(variable: String?, environment: [String: String]) {
        guard let variable, let value = environment[variable], !value.isEmpty else { return nil }
        expected = Array(value.utf8)
    }

    /// `Authorization: Bearer <token>` with the right token. The comparison takes the same time
    /// wherever the first difference is, so the answer's timing does not leak the token.
    func accepts(_ headers: HTTPHeaders) -> Bool {
        let values = headers["authorization"]
        guard values.count == 1, let value = values.first else { return false }
        let scheme = value.prefix(7)
        guard scheme.lowercased() == "bearer " else { return false }
        let offered = Array(value.utf8.dropFirst(7))
        var difference = offered.count == expected.count ? 0 : 1
        for index in 0..<max(offered.count, expected.count) {
            let left = index < offered.count ? offered[index] : 0
            let right = index < expected.count ? expected[index] : 0
            difference |= Int(left ^ right)
        }
        return difference == 0
    }
}
