/// What can go wrong when loading a model or running it, beyond a malformed GGUF file
/// (``GGUFError``): each case names the offending value.
public enum ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    case unsupportedArchitecture(String)
    case invalidHyperParameter(key: String, value: String, reason: String)
    case tensorShape(tensor: String, expected: [Int], found: [Int])
    case contextOverflow(needed: Int, capacity: Int)
    case tokenOutOfRange(token: Int, vocabularySize: Int)
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
            "the context holds \(capacity) tokens but \(needed) are needed; shorten the prompt or raise --ctx"
        case let .tokenOutOfRange(token, vocab):
            "token id \(token) is outside the vocabulary of \(vocab) tokens"
        case .emptyInput:
            "nothing to evaluate: the input has no tokens"
        }
    }
}
