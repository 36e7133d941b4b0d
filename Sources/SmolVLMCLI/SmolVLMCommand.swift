import ArgumentParser
import SmolVLM

@main
struct SmolVLMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smolvlm",
        abstract: "Run SmolVLM vision-language models from GGUF files on the CPU.",
        subcommands: [Caption.self, Chat.self, Serve.self, Generate.self, Download.self, EncodeImage.self, Inspect.self, Tokenize.self, Eval.self, Bench.self]
    )

    /// Runs the command; a library error that a flag can fix gets the flag's name added (the
    /// library's messages do not name this tool's flags).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: FlagHint.annotate(error))
        }
    }
}

/// The flag that fixes a library error, appended to its message.
enum FlagHint {
    static func annotate(_ error: any Error) -> any Error {
        let hint: String? = switch error {
        case ModelError.contextOverflow: "--ctx"
        case is ChatTemplate.DetectionError: "--chat-template chatml|smolvlm"
        case HubError.missingMmproj: "--mmproj FILE"
        case HubError.offline, HubError.notFound: "--model FILE --mmproj FILE"
        default: nil
        }
        guard let hint else { return error }
        return CLIError("\(error) (\(hint))")
    }
}
