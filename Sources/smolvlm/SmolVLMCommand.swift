import ArgumentParser

@main
struct SmolVLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smolvlm",
        abstract: "Run SmolVLM vision-language models from GGUF files on the CPU.",
        subcommands: [Caption.self, EncodeImage.self, Generate.self, Inspect.self, Tokenize.self, Eval.self, Bench.self, Download.self]
    )
}
