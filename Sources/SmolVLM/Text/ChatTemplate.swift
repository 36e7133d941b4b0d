/// Chat formatting the way llama.cpp's built-in (non-Jinja) templates do it
/// (`llama_chat_apply_template`): the template is recognised from a few marker strings in
/// `tokenizer.chat_template`, then each message is written in that template's fixed layout.
public enum ChatTemplate: String, Sendable, CaseIterable {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` … `<|im_start|>assistant\n` (SmolLM2).
    case chatml
    /// `<|im_start|>` once, then `User: {content}<end_of_utterance>\n` … `Assistant:` (SmolVLM).
    case smolvlm

    /// Who speaks a ``Message``; the raw value is the role name the templates write.
    public enum Role: String, Sendable {
        /// Instructions that frame the conversation, before the first user turn.
        case system
        /// The person asking.
        case user
        /// The model's answers.
        case assistant
    }

    /// One turn of a conversation to render: who speaks and what they say.
    public struct Message: Sendable, Equatable {
        /// Who speaks.
        public var role: Role
        /// The text of the turn, inserted into the template verbatim (no escaping of special tokens).
        public var content: String
        /// A turn of `content` spoken by `role`.
        public init(role: Role, content: String) { self.role = role; self.content = content }
    }

    /// Why ``detect(_:)`` found no template; either way the caller can pass one explicitly.
    public enum DetectionError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The model's template is not one of ours; `excerpt` is its beginning, for the message.
        case unknown(excerpt: String)
        /// The model has no `tokenizer.chat_template`.
        case absent
        public var description: String {
            switch self {
            case .absent:
                "the model has no tokenizer.chat_template; choose a built-in template explicitly (\(ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")))"
            case let .unknown(excerpt):
                "unrecognised chat template (\"\(excerpt)…\"); choose a built-in template explicitly (\(ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")))"
            }
        }
    }

    /// Recognises a template from its Jinja source, as llama.cpp's detection does for these two.
    public static func detect(_ source: String?) throws(DetectionError) -> ChatTemplate {
        guard let source, !source.isEmpty else { throw .absent }
        if let named = ChatTemplate(rawValue: source) { return named }
        if source.contains("<|im_start|>") && !source.contains("<|im_sep|>") {
            // SmolVLM uses <|im_start|> as a BOS, but its turns are not ChatML.
            return source.contains("<end_of_utterance>") ? .smolvlm : .chatml
        }
        throw .unknown(excerpt: String(source.prefix(60)))
    }

    /// Which rendering of a template: llama.cpp's built-in C++ one (`llama_chat_apply_template`,
    /// what `llama-mtmd-cli` and `llama-cli` without `--jinja` write), or the model's own Jinja
    /// template as llama-server runs it by default (`--jinja`). They differ only in system
    /// messages of SmolVLM's template: the built-in writes `{content}\n\n`, the Jinja template
    /// `System: {content}<end_of_utterance>\n` like any other turn.
    public enum Dialect: Sendable {
        /// llama.cpp's built-in rendering.
        case builtIn
        /// The model's Jinja template, as llama-server renders it.
        case jinja
    }

    /// The prompt text for `messages`, ending with the assistant's turn opener when
    /// `addAssistantPrompt` is set. Special tokens appear as text: tokenize with special parsing.
    public func render(_ messages: [Message], addAssistantPrompt: Bool = true, dialect: Dialect = .builtIn) -> String {
        var out = ""
        switch self {
        case .chatml:
            for m in messages { out += "<|im_start|>\(m.role.rawValue)\n\(m.content)<|im_end|>\n" }
            if addAssistantPrompt { out += "<|im_start|>assistant\n" }
        case .smolvlm:
            out += "<|im_start|>"
            for m in messages {
                switch m.role {
                case .system where dialect == .builtIn: out += m.content + "\n\n"
                case .system: out += "System: \(m.content)<end_of_utterance>\n"
                case .user: out += "User: \(m.content)<end_of_utterance>\n"
                case .assistant: out += "Assistant: \(m.content)<end_of_utterance>\n"
                }
            }
            if addAssistantPrompt { out += "Assistant:" }
        }
        return out
    }
}
