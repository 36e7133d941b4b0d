import ArgumentParser
import Foundation
import SmolVLM

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run token ids through the model in one batch and write the logits of every position.",
        discussion: "The logits file holds one row of vocabulary-size little-endian f32 values per input token: the tool for comparing against any reference implementation."
    )

    @Option(help: "A llama-architecture GGUF file.") var model: String
    @Option(help: "Comma-separated token ids.") var tokens: String
    @Option(name: .customLong("logits-out"), help: "Where to write the logits.") var logitsOut: String
    @Option(help: "Threads (the caller included).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let ids = try tokens.split(separator: ",").map { part -> Int in
            guard let id = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("'\(part)' is not a token id")
            }
            return id
        }
        let llama = try LlamaModel(path: model)
        let context = try LlamaContext(model: llama, contextLength: max(ids.count, 1), threads: threads)
        let logits = try context.evaluate(tokens: ids, logits: .all)
        try logits.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: logitsOut))
        print("wrote \(ids.count) × \(llama.configuration.vocabularySize) logits to \(logitsOut)")
    }
}
