import Dispatch
import Foundation
import SmolVLM
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Image arguments: files, directories (their JPEG and PNG files, sorted) and quoted globs.
enum ImagePaths {
    static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    static func isPattern(_ s: String) -> Bool { s.contains { "*?[".contains($0) } }

    static func expand(_ arguments: [String]) throws -> [String] {
        var out: [String] = []
        for arg in arguments {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: arg, isDirectory: &isDirectory), isDirectory.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: arg)
                out += names.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
                    .map { (arg as NSString).appendingPathComponent($0) }
            } else if isPattern(arg) {
                var g = glob_t()
                defer { globfree(&g) }
                guard glob(arg, 0, nil, &g) == 0 else { continue }
                for i in 0 ..< Int(g.gl_pathc) {
                    if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
                }
            } else {
                out.append(arg)
            }
        }
        if out.isEmpty { throw CLIError("no images matched \(arguments.joined(separator: " "))") }
        return out
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Ctrl-C while an answer is generated stops that answer instead of the process.
final class Interrupt: @unchecked Sendable {
    private let source: DispatchSourceSignal

    init(_ handler: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler(handler: handler)
        source.resume()
    }

    func stop() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}

/// A one-line progress bar on stderr (plain lines when stderr is not a terminal).
struct BatchProgress {
    let total: Int
    let label: String
    private var done = 0
    private let start = ContinuousClock.now
    private let tty = isatty(2) != 0

    init(total: Int, label: String) {
        self.total = total
        self.label = label
        draw()
    }

    mutating func advance() {
        done += 1
        draw()
    }

    func finish() { if tty { FileHandle.standardError.write("\n") } }

    private func draw() {
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let elapsed = (ContinuousClock.now - start).seconds
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let line = "\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total)"
            + (done > 0 ? String(format: "  %.1f s each, %.0f s left", elapsed / Double(done), eta) : "")
        if tty {
            FileHandle.standardError.write("\r" + line)
        } else if done == total || done % max(1, total / 10) == 0 {
            FileHandle.standardError.write(line + "\n")
        }
    }
}

/// One caption (or failure) as a JSON line: the library's own encodings of ``StopReason`` and
/// ``ChatTimings`` (seconds), plus the image, the text and the load time.
struct JSONRecord: Codable {
    var image: String?
    var text: String?
    var stop: StopReason?
    var timings: ChatTimings?
    var loadSeconds: Double?
    var error: String?

    init(image: String?, result: ChatResult, load: Double?) {
        self.image = image
        text = result.text
        stop = result.stopReason
        timings = result.timings
        loadSeconds = load
    }

    init(image: String, error: any Error) {
        self.image = image
        self.error = "\(error)"
    }

    func line() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Images that already have a caption (not an error) in a JSON Lines file.
    static func captioned(in path: String) -> Set<String> {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var out = Set<String>()
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let r = try? JSONDecoder().decode(JSONRecord.self, from: Data(line)), r.error == nil, let image = r.image { out.insert(image) }
        }
        return out
    }
}

enum Report {
    static func ms(_ seconds: Double) -> String { String(format: "%.2f", seconds * 1000) }

    static func timings(_ result: ChatResult, model: SmolVLMModel, images: Int) {
        let t = result.timings
        var err = FileHandle.standardError
        func line(_ label: String, _ value: String) { print("smolvlm: \(label.leftPad(20)) = \(value)", to: &err) }
        line("load time", "\(ms(model.loadSeconds)) ms")
        if images > 0 {
            let encode = t.encodeSecondsPerTile.reduce(0, +)
            line("image decode", "\(ms(t.imageDecodeSeconds)) ms (\(images) image\(images == 1 ? "" : "s"))")
            line("image preprocess", "\(ms(t.imagePreprocessSeconds)) ms")
            line("image encode", "\(ms(encode)) ms / \(t.encodeSecondsPerTile.count) tiles (\(ms(encode / Double(max(1, t.encodeSecondsPerTile.count)))) ms per tile)")
        }
        line("prompt eval", "\(ms(t.prefillSeconds)) ms / \(t.prefillPositions) positions (\(String(format: "%.2f", t.prefillPositionsPerSecond)) per second)"
             + (t.reusedPositions > 0 ? ", \(t.reusedPositions) reused from the cache" : ""))
        line("eval", "\(ms(t.decodeSeconds)) ms / \(t.generatedTokens) tokens (\(String(format: "%.2f", t.decodeTokensPerSecond)) tokens per second)")
        line("time to first token", "\(ms(t.timeToFirstTokenSeconds)) ms")
        line("stop", "\(result.stopReason)")
    }
}
