/// The content hash that tells an edited file from one saved unchanged.
public enum ConfigHash {
    public static func of(_ bytes: [UInt8]) -> String {
        "fnv1a64:" + String(StableHash.fnv1a(String(decoding: bytes, as: UTF8.self)), radix: 16)
    }
}
