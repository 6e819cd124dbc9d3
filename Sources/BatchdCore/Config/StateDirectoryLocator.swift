import FoundationEssentials
import Glibc

/// Finds the state directory through a batch.yaml that does not validate, so that `status`,
/// `runs`, `trigger` and `cancel` keep working while a broken file waits to be fixed (that is
/// when people need `status` most: it shows why the last reload was refused).
public enum StateDirectoryLocator {
    /// `stateDir` as the file sets it (read leniently), or the default `.batchd`, resolved
    /// against the file's folder.
    public static func locate(bytes: [UInt8], configPath: String) -> String {
        let directory = ConfigDecoder.directory(of: configPath)
        var stateDir = ".batchd"
        if let root = YAMLParser(log: DiagnosticLog(file: configPath)).parse(bytes),
           case .mapping(let pairs) = root.content,
           let value = pairs.first(where: { $0.key.scalarText == "stateDir" })?.value.scalarText, !value.isEmpty {
            stateDir = value
        }
        return ConfigDecoder.resolve(stateDir, against: directory)
    }
}
