/// What can go wrong when loading a model or running it, beyond a malformed GGUF file
/// (`GGUFError`, module GGUF): each case names the offending value.
public enum ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `general.architecture` names an architecture this engine does not run (only `llama`).
    case unsupportedArchitecture(String)
    /// A hyperparameter in the metadata is out of range or inconsistent (`reason` says how).
    case invalidHyperParameter(key: String, value: String, reason: String)
    /// A weight tensor's shape (ggml order) does not match what the hyperparameters imply.
    case tensorShape(tensor: String, expected: [Int], found: [Int])
    /// Evaluating the input would need `needed` positions but the KV cache holds `capacity`.
    case contextOverflow(needed: Int, capacity: Int)
    /// An input token id is negative or not below the vocabulary size.
    case tokenOutOfRange(token: Int, vocabularySize: Int)
    /// An evaluation was asked for with no tokens (and no embeddings).
    case emptyInput

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(a):
            "unsupported architecture '\(a)' (this engine runs 'llama' text models)"
        case let .invalidHyperParameter(key, value, reason):
            "\(key) = \(value) is invalid: \(reason)"
        case let .tensorShape(name, expected, found):
            "tensor '\(name)' has shape \(found), expected \(expected)"
        case let .contextOverflow(needed, capacity):
            "the context holds \(capacity) tokens but \(needed) are needed; shorten the prompt or use a longer context"
        case let .tokenOutOfRange(token, vocab):
            "token id \(token) is outside the vocabulary of \(vocab) tokens"
        case .emptyInput:
            "nothing to evaluate: the input has no tokens"
        }
    }
}
