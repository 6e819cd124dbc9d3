/// A `WWW-Authenticate` challenge: `Bearer realm="https://auth.docker.io/token",service=
/// "registry.docker.io",scope="repository:library/nginx:pull"`, or `Basic realm="..."`.
///
/// Parameters are `name=value` or `name="quoted value"` (a quoted value may hold commas, as a
/// scope listing several actions does, and backslash escapes), separated by commas.
struct AuthChallenge: Equatable, Sendable {
    var scheme: String
    var parameters: [String: String]

    var realm: String? { parameters["realm"] }
    var service: String? { parameters["service"] }
    var scope: String? { parameters["scope"] }

    init?(_ header: String) {
        let text = Substring(header.trimmingSpaces())
        guard let space = text.firstIndex(of: " ") else {
            guard !text.isEmpty else { return nil }
            scheme = text.lowercased()
            parameters = [:]
            return
        }
        scheme = text[..<space].lowercased()
        var parameters: [String: String] = [:]
        var rest = text[text.index(after: space)...]
        while true {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard !rest.isEmpty else { break }
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let name = rest[..<equals].trimmingSpaces().lowercased()
            rest = rest[rest.index(after: equals)...].drop { $0 == " " }
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if character == "\\", let escaped = rest.first {
                        value.append(escaped)
                        rest = rest.dropFirst()
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { return nil }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingSpaces()
                rest = rest[end...]
            }
            guard !name.isEmpty else { return nil }
            parameters[name] = value
        }
        self.parameters = parameters
    }
}
