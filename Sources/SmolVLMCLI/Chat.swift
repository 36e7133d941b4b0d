import ArgumentParser
import Foundation
import SmolVLM

struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk with a SmolVLM model in the terminal; earlier turns stay in the context.",
        discussion: """
        Commands: /image PATH attaches an image to your next message (repeatable), /clear starts over, \
        /exit quits (so does end of input). Ctrl-C stops the answer being written without leaving.
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingFlags
    @Option(help: "A system prompt.") var system: String?
    @Option(name: .customLong("max-tiles"), help: "Tile budget per image (1: no slicing).") var maxTiles: Int?
    @Flag(help: "Print timings after each answer.") var timings = false

    func run() async throws {
        let model = try await modelOptions.load()
        let session = try ChatSession(model: model, configuration: .init(contextLength: modelOptions.ctx, threads: modelOptions.threads,
                                                                         systemPrompt: system, overflow: .dropOldestTurns, maxTiles: maxTiles))
        var pending: [ImageInput] = []
        let tty = isatty(0) != 0
        FileHandle.standardError.write("smolvlm chat: \(model.vision == nil ? "text only" : "images with /image PATH"), /clear, /exit\n")
        while true {
            if tty { FileHandle.standardOutput.write(pending.isEmpty ? "> " : "[\(pending.count) image\(pending.count == 1 ? "" : "s")] > ") }
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/exit" || text == "/quit" { break }
            if text == "/clear" {
                try session.reset()
                pending = []
                FileHandle.standardError.write("(conversation cleared)\n")
                continue
            }
            if text.hasPrefix("/image") {
                let path = text.dropFirst("/image".count).trimmingCharacters(in: .whitespaces)
                guard !path.isEmpty else { FileHandle.standardError.write("usage: /image PATH\n"); continue }
                guard FileManager.default.isReadableFile(atPath: path) else { FileHandle.standardError.write("cannot read \(path)\n"); continue }
                guard model.vision != nil else { FileHandle.standardError.write("this model has no vision part (pass --mmproj)\n"); continue }
                pending.append(.file(URL(fileURLWithPath: path)))
                continue
            }
            if text.hasPrefix("/") { FileHandle.standardError.write("unknown command \(text); /image PATH, /clear, /exit\n"); continue }

            let response = session.respond(to: UserMessage(text, images: pending), options: sampling.options)
            pending = []
            let interrupt = Interrupt { response.cancel() }
            do {
                for try await piece in response { FileHandle.standardOutput.write(piece) }
                FileHandle.standardOutput.write("\n")
                let result = try await response.result
                interrupt.stop()
                if result.stopReason == .cancelled { FileHandle.standardError.write("(stopped)\n") }
                if timings { Report.timings(result, model: model, images: result.timings.encodeSecondsPerTile.isEmpty ? 0 : 1) }
            } catch {
                interrupt.stop()
                FileHandle.standardOutput.write("\n")
                FileHandle.standardError.write("error: \(error)\n")
            }
        }
    }
}
