import ArgumentParser
import Foundation
import SmolVLM

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run token ids through the model and write the logits of every position.",
        discussion: """
            The logits file holds one row of vocabulary-size little-endian f32 values per input token: the tool \
            for comparing against any reference implementation. By default every token goes in one batch \
            (matrix × matrix products). With --decode-from N the first N tokens go in one batch and the rest \
            one at a time, as a generation loop feeds them (matrix × vector products); rows are then written for \
            positions N − 1 onwards.
            """
    )

    @Option(help: "A llama-architecture GGUF file.") var model: String
    @Option(help: "Comma-separated token ids.") var tokens: String
    @Option(name: .customLong("logits-out"), help: "Where to write the logits.") var logitsOut: String
    @Option(help: "Threads (the caller included).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("decode-from"), help: "Evaluate the first N tokens as a prompt, then the rest one at a time.")
    var decodeFrom: Int?

    func run() throws {
        let ids = try tokens.split(separator: ",").map { part -> Int in
            guard let id = Int(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("'\(part)' is not a token id")
            }
            return id
        }
        let llama = try LlamaModel(path: model)
        let context = try LlamaContext(model: llama, contextLength: max(ids.count, 1), threads: threads)
        var logits: [Float]
        if let n = decodeFrom {
            guard n >= 1, n <= ids.count else { throw ValidationError("--decode-from takes 1 ... \(ids.count)") }
            logits = try context.evaluate(tokens: Array(ids[..<n]))
            for id in ids[n...] { logits += try context.evaluate(tokens: [id]) }
        } else {
            logits = try context.evaluate(tokens: ids, logits: .all)
        }
        let rows = logits.count / llama.configuration.vocabularySize
        try logits.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: logitsOut))
        print("wrote \(rows) × \(llama.configuration.vocabularySize) logits to \(logitsOut)")
    }
}
