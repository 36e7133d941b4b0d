import ArgumentParser
import Foundation
import SmolVLM

struct Download: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a known SmolVLM model (text model and vision projector) into the cache and print their paths.",
        discussion: """
        NAME is one of \(KnownModel.allCases.map(\.rawValue).joined(separator: ", ")), optionally followed by \
        :QUANT (\(ModelQuantization.allCases.map(\.rawValue).joined(separator: ", ")); default \
        \(ModelQuantization.default.rawValue)). The files come from the official llama.cpp conversions on Hugging Face \
        (ggml-org/…-GGUF). Files already in the cache are not fetched again; an interrupted download resumes.

        Cache: $SMOLVLM_CACHE, else $XDG_CACHE_HOME/smolvlm, else ~/.cache/smolvlm. \
        Hub address: $HF_ENDPOINT (default https://huggingface.co). HF_HUB_OFFLINE=1 forbids network use.
        """
    )

    @Argument(help: "NAME[:QUANT], e.g. smolvlm-256m or smolvlm2-500m:f16.") var name: String
    @Option(help: "Cache directory (overrides $SMOLVLM_CACHE).") var cache: String?
    @Flag(name: .customLong("text-only"), help: "Only the text model, not the vision projector.") var textOnly = false

    func run() async throws {
        let reference = try ModelReference(parsing: name)
        guard case .known = reference else {
            throw ValidationError("'\(name)' is a file, not a model name; known names: \(KnownModel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let store = ModelStore(cacheDirectory: cache.map { URL(fileURLWithPath: $0, isDirectory: true) })
        let bar = ProgressBar()
        let model = try await store.resolveModel(reference, progress: bar.update)
        bar.finish()
        print("model:  \(model.path)")
        if !textOnly {
            let mmproj = try await store.resolveMmproj(reference, progress: bar.update)
            bar.finish()
            print("mmproj: \(mmproj.path)")
        }
    }
}

/// What `--model` / `--mmproj` options turn into: file paths as they are, known names from the
/// cache or downloaded once (progress bar on stderr).
enum ModelResolution {
    /// The text model and its mmproj. A known model name brings its own mmproj unless one is
    /// given; a path without `--mmproj` is a text-only model (nil).
    static func resolve(model: String, mmproj: String?, store: ModelStore = ModelStore()) async throws -> (model: String, mmproj: String?) {
        let reference = try ModelReference(parsing: model)
        let bar = ProgressBar()
        let modelURL = try await store.resolveModel(reference, progress: bar.update)
        bar.finish()
        var mmprojURL: URL?
        if let mmproj {
            mmprojURL = try await store.resolveMmproj(try ModelReference(parsing: mmproj), progress: bar.update)
        } else if case .known = reference {
            mmprojURL = try await store.resolveMmproj(reference, progress: bar.update)
        }
        bar.finish()
        return (modelURL.path, mmprojURL?.path)
    }
}

/// A one-line progress bar on stderr, redrawn at most ten times a second; on a non-terminal
/// only the final line of each file is written.
final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private let isTerminal = isatty(2) != 0
    private var last: DownloadProgress?
    private var started: ContinuousClock.Instant?
    private var startBytes: Int64 = 0
    private var lastDraw: ContinuousClock.Instant?
    private let clock = ContinuousClock()

    var update: ModelStore.ProgressHandler { { [self] report in handle(report) } }

    private func handle(_ report: DownloadProgress) {
        lock.withLock {
            let now = clock.now
            if last?.file != report.file {
                started = now
                startBytes = report.bytesReceived
                lastDraw = nil
            }
            last = report
            guard isTerminal else { return }
            if let lastDraw, now - lastDraw < .milliseconds(100), report.bytesReceived != report.totalBytes { return }
            lastDraw = now
            // ESC[K clears what a longer previous line left behind.
            FileHandle.standardError.write(Data(("\r" + line(report, now: now) + "\u{1B}[K").utf8))
        }
    }

    /// Ends the current file's line (nothing if nothing was downloaded: the file was cached).
    func finish() {
        lock.withLock {
            guard let report = last else { return }
            let text = isTerminal ? "\r" + line(report, now: clock.now) + "\u{1B}[K\n" : line(report, now: clock.now) + "\n"
            FileHandle.standardError.write(Data(text.utf8))
            last = nil
        }
    }

    private func line(_ r: DownloadProgress, now: ContinuousClock.Instant) -> String {
        let mb = { (bytes: Int64) in String(format: "%.1f", Double(bytes) / 1e6) }
        var text = r.file.filename + " "
        if let fraction = r.fractionCompleted, let total = r.totalBytes {
            let width = 30
            let filled = Int(fraction * Double(width))
            text += "[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled) + "] "
            text += String(format: "%3d%% ", Int(fraction * 100)) + "\(mb(r.bytesReceived))/\(mb(total)) MB"
        } else {
            text += "\(mb(r.bytesReceived)) MB"
        }
        if let started {
            let seconds = (now - started).seconds
            if seconds > 0.2 { text += String(format: "  %.1f MB/s", Double(r.bytesReceived - startBytes) / 1e6 / seconds) }
        }
        return text
    }
}
