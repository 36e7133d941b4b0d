import Foundation

/// The caches other tools download the same files into, so a model already fetched by
/// llama.cpp (`llama-server -hf …`) or the Hugging Face CLI is used where it lies instead of
/// being downloaded again.
///
/// - The Hugging Face hub cache, which llama.cpp also writes since it adopted that layout:
///   `{hub}/models--{owner}--{name}/snapshots/{commit}/{filename}`, the commit named by
///   `refs/{revision}` preferred. `{hub}` is, first found: `$LLAMA_CACHE` (llama.cpp's),
///   `$HF_HUB_CACHE`, `$HUGGINGFACE_HUB_CACHE`, `$HF_HOME/hub`, `$XDG_CACHE_HOME/huggingface/hub`,
///   `~/.cache/huggingface/hub`.
/// - llama.cpp's earlier flat cache: `{dir}/{owner}_{name}_{filename}`, with `{dir}` one of
///   `$LLAMA_CACHE`, `$XDG_CACHE_HOME/llama.cpp`, `~/.cache/llama.cpp` (macOS:
///   `~/Library/Caches/llama.cpp`).
///
/// Both tools write a file under its final name only once it is complete.
struct ForeignCaches: Sendable, Hashable {
    var hubDirectories: [URL]
    var flatDirectories: [URL]

    init(environment: [String: String]) {
        func dir(_ key: String, _ parts: String...) -> URL? {
            guard let base = environment[key], !base.isEmpty else { return nil }
            return parts.reduce(URL(fileURLWithPath: base, isDirectory: true)) { $0.appendingPathComponent($1, isDirectory: true) }
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let homeCache = URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent(".cache", isDirectory: true)
        hubDirectories = [dir("LLAMA_CACHE"), dir("HF_HUB_CACHE"), dir("HUGGINGFACE_HUB_CACHE"), dir("HF_HOME", "hub"),
                          dir("XDG_CACHE_HOME", "huggingface", "hub"),
                          homeCache.appendingPathComponent("huggingface", isDirectory: true).appendingPathComponent("hub", isDirectory: true)]
            .compactMap { $0 }
        #if canImport(Darwin)
        let platformCache = URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent("Library/Caches/llama.cpp", isDirectory: true)
        #else
        let platformCache = dir("XDG_CACHE_HOME", "llama.cpp") ?? homeCache.appendingPathComponent("llama.cpp", isDirectory: true)
        #endif
        flatDirectories = [dir("LLAMA_CACHE"), platformCache].compactMap { $0 }
    }

    /// A complete copy of `file` in one of the caches, if there is one.
    func find(_ file: HubFile) -> URL? {
        let fm = FileManager.default
        func exists(_ url: URL) -> Bool {
            var isDirectory: ObjCBool = false
            return fm.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
        let folder = "models--" + file.repository.replacingOccurrences(of: "/", with: "--")
        for hub in hubDirectories {
            let repo = hub.appendingPathComponent(folder, isDirectory: true)
            let snapshots = repo.appendingPathComponent("snapshots", isDirectory: true)
            // The commit the revision points at first, then any snapshot that has the file.
            var commits: [String] = []
            if let ref = try? String(contentsOf: repo.appendingPathComponent("refs").appendingPathComponent(file.revision), encoding: .utf8) {
                commits.append(ref.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            commits += ((try? fm.contentsOfDirectory(atPath: snapshots.path)) ?? []).sorted()
            for commit in commits where !commit.isEmpty && !commit.contains("/") {
                let candidate = snapshots.appendingPathComponent(commit, isDirectory: true).appendingPathComponent(file.filename)
                if exists(candidate) { return candidate }
            }
        }
        guard file.revision == "main" else { return nil }
        let flatName = file.repository.replacingOccurrences(of: "/", with: "_") + "_" + file.filename.replacingOccurrences(of: "/", with: "_")
        for directory in flatDirectories {
            let candidate = directory.appendingPathComponent(flatName)
            if exists(candidate) { return candidate }
        }
        return nil
    }
}
