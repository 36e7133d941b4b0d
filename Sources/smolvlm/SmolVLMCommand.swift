import ArgumentParser

@main
struct SmolVLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smolvlm",
        abstract: "Run SmolVLM vision-language models from GGUF files on the CPU.",
        subcommands: [Inspect.self, Generate.self, Tokenize.self, Eval.self, Bench.self]
    )
}
