import ArgumentParser
import Foundation
import GGUF
import SmolVLM

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a prompt with a llama-architecture GGUF model, streaming to stdout.",
        discussion: "Timings go to stderr in llama.cpp's style. With --chat the prompt is wrapped in the model's chat template the way llama.cpp's built-in templates format it."
    )

    @Option(help: "A llama-architecture GGUF file.") var model: String
    @Option(help: "The prompt.") var prompt: String?
    @Option(name: .customLong("prompt-file"), help: "Read the prompt from a file.") var promptFile: String?
    @Option(name: [.customShort("n"), .long], help: "Tokens to generate at most.") var maxTokens: Int = 64
    @Option(help: "Sampling temperature; 0 is greedy (llama.cpp's default is 0.8).") var temp: Float = 0
    @Option(name: .customLong("top-k"), help: "Keep the K most likely tokens; 0 = off.") var topK = 40
    @Option(name: .customLong("top-p"), help: "Keep the most likely tokens up to this cumulative probability; 1 = off.") var topP: Float = 0.95
    @Option(name: .customLong("min-p"), help: "Drop tokens below this fraction of the most likely one's probability; 0 = off.") var minP: Float = 0.05
    @Option(name: .customLong("repeat-penalty"), help: "Penalise tokens repeated in the last --repeat-last-n; 1 = off.") var repeatPenalty: Float = 1
    @Option(name: .customLong("repeat-last-n"), parsing: .unconditional, help: "Tokens the repeat penalty looks back over; 0 = off, -1 = the whole context.") var repeatLastN = 64
    @Option(help: "Seed for sampling at temperature > 0 (default: random, printed to stderr).") var seed: UInt64?
    @Option(help: "Stop when the output contains this string (not printed); repeat for several.") var stop: [String] = []
    @Flag(help: "Wrap the prompt in the model's chat template as a user message.") var chat = false
    @Option(name: .customLong("chat-template"), help: "Use this built-in template (chatml, smolvlm) instead of detecting it.") var chatTemplate: String?
    @Option(help: "Threads (the caller included).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Context length (default: the smaller of the model's and 4096).") var ctx: Int?

    func validate() throws {
        if (prompt == nil) == (promptFile == nil) { throw ValidationError("give exactly one of --prompt and --prompt-file") }
        if maxTokens < 0 { throw ValidationError("-n must not be negative") }
        do { try generationOptions.validate() } catch { throw ValidationError("\(error)") }
        if let name = chatTemplate, ChatTemplate(rawValue: name) == nil {
            throw ValidationError("unknown chat template '\(name)'; built-in: " + ChatTemplate.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    var generationOptions: GenerationOptions {
        GenerationOptions(maxTokens: maxTokens, temperature: temp, topK: topK, topP: topP, minP: minP,
                          repetitionPenalty: repeatPenalty, repetitionWindow: repeatLastN, seed: seed, stop: stop)
    }

    func run() throws {
        let clock = ContinuousClock()
        let loadStart = clock.now
        let file = try GGUFFile(path: model)
        let llama = try LlamaModel(file: file)
        let tokenizer = try Tokenizer(gguf: file)
        let context = try LlamaContext(model: llama, contextLength: ctx, threads: threads)
        let loadSeconds = (clock.now - loadStart).seconds

        var text = try prompt ?? String(contentsOfFile: promptFile!, encoding: .utf8)
        if chat {
            let template = try chatTemplate.flatMap(ChatTemplate.init(rawValue:))
                ?? ChatTemplate.detect(try? file.metadata.string("tokenizer.chat_template"))
            text = template.render([.init(role: .user, content: text)])
        }
        let tokens = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        let generator = TextGenerator(context: context, tokenizer: tokenizer)
        let result = try generator.generate(prompt: tokens, options: generationOptions) { piece in
            FileHandle.standardOutput.write(Data(piece.utf8))
            return true
        }
        // Through the same unbuffered handle as the pieces, so it lands before the timings.
        FileHandle.standardOutput.write("\n")
        let t = result.timings
        func line(_ label: String, _ s: Double, _ n: Int, _ unit: String) -> String {
            let ms = s * 1000
            let per = n > 0 ? ms / Double(n) : 0
            let rate = s > 0 ? Double(n) / s : 0
            return "smolvlm: \(label.leftPad(12)) = \(String(format: "%10.2f", ms)) ms / \(String(n).leftPad(5)) \(unit) (\(String(format: "%8.2f", per)) ms per token, \(String(format: "%8.2f", rate)) tokens per second)"
        }
        var err = FileHandle.standardError
        print("smolvlm: \("load time".leftPad(12)) = \(String(format: "%10.2f", loadSeconds * 1000)) ms", to: &err)
        print(line("prompt eval", t.promptSeconds, t.promptTokens, "tokens"), to: &err)
        print(line("eval", t.decodeSeconds, t.generatedTokens, "runs  "), to: &err)
        print("smolvlm: stop: \(result.stopReason)" + (temp > 0 ? ", seed \(result.seed)" : ""), to: &err)
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids of a text, as the model's tokenizer splits it.")

    @Option(help: "A GGUF file with a tokenizer.") var model: String
    @Option(help: "The text.") var text: String
    @Flag(name: .customLong("no-special"), help: "Treat special-token text as plain text.") var noSpecial = false
    @Flag(help: "Also print each token's text.") var pieces = false

    func run() throws {
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: model))
        let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: !noSpecial)
        if pieces {
            for id in ids { print("\(id)\t\(String(decoding: tokenizer.piece(for: id, special: true), as: UTF8.self).debugDescription)") }
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}


extension FileHandle: @retroactive TextOutputStream {
    public func write(_ string: String) { write(Data(string.utf8)) }
}
