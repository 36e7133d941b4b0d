import ArgumentParser

@main
struct SmolVLMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smolvlm",
        abstract: "Run SmolVLM vision-language models from GGUF files on the CPU.",
        subcommands: [Caption.self, Chat.self, Serve.self, Generate.self, Download.self, EncodeImage.self, Inspect.self, Tokenize.self, Eval.self, Bench.self]
    )
}
