import BatchdCore
import BatchdHandlers
import Foundation

/// Loads YAML text as if it were `batch.yaml`, through the real libyaml.
func load(_ yaml: String, path: String = "batch.yaml") -> Result<BatchConfig, ConfigLoader.Invalid> {
    ConfigLoader(registry: BuiltInJobTypes.registry).load(bytes: Array(yaml.utf8), path: path)
}

/// The printed error lines of an invalid file (empty when it is valid).
func errors(_ yaml: String) -> [String] {
    switch load(yaml) {
    case .success: return []
    case .failure(let invalid): return invalid.diagnostics.map(\.description)
    }
}

/// The package's root folder, for the shipped batch.yaml and examples.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
