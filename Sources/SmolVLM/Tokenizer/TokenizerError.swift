/// Why a GGUF file's tokenizer metadata cannot be used, each with a message that names the key.
public enum TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A required metadata key is absent.
    case missingMetadata(String)
    /// A metadata value has the wrong type.
    case invalidMetadata(key: String, expected: String, found: String)
    /// `tokenizer.ggml.model` names a tokenizer this engine does not implement.
    case unsupportedModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer this engine does not implement.
    case unsupportedPreTokenizer(String)
    /// `tokenizer.ggml.tokens` is empty.
    case emptyVocabulary
    /// `tokenizer.ggml.token_type` has fewer entries than there are tokens.
    case tooFewTokenTypes(tokens: Int, types: Int)
    /// A `tokenizer.ggml.token_type` entry is not one of llama.cpp's token types (0 to 6).
    case invalidTokenType(token: Int, type: Int)
    /// Two tokens have the same text (llama.cpp aborts on this).
    case duplicateToken(text: String, first: Int, second: Int)
    /// A merge is not two token texts separated by a space.
    case malformedMerge(index: Int, merge: String)
    /// A merge names, or produces, a text that is not a token.
    case mergeNamesUnknownToken(index: Int, merge: String, token: String)
    /// A special token id (BOS, EOS, ...) is negative or not below the vocabulary size.
    case specialTokenOutOfRange(key: String, id: Int, vocabularySize: Int)
    /// The metadata asks for a special token to be added that the vocabulary does not have.
    case missingSpecialToken(String)
    /// More tokens than 32-bit token ids can address.
    case vocabularyTooLarge(Int)

    public var description: String {
        switch self {
        case let .missingMetadata(key):
            return "tokenizer: metadata key '\(key)' is missing"
        case let .invalidMetadata(key, expected, found):
            return "tokenizer: metadata '\(key)' is \(found), expected \(expected)"
        case let .unsupportedModel(name):
            return "tokenizer: unsupported tokenizer model '\(name)' (tokenizer.ggml.model); only 'gpt2' (byte-level BPE) is implemented"
        case let .unsupportedPreTokenizer(name):
            let known = "smollm, gpt-2, default and their llama.cpp aliases"
            return "tokenizer: unsupported pre-tokenizer '\(name)' (tokenizer.ggml.pre); supported: \(known)"
        case .emptyVocabulary:
            return "tokenizer: 'tokenizer.ggml.tokens' is empty"
        case let .tooFewTokenTypes(tokens, types):
            return "tokenizer: 'tokenizer.ggml.token_type' has \(types) entries for \(tokens) tokens"
        case let .invalidTokenType(token, type):
            return "tokenizer: token \(token) has type \(type) in 'tokenizer.ggml.token_type' (valid types are 0 to 6)"
        case let .duplicateToken(text, first, second):
            return "tokenizer: tokens \(first) and \(second) have the same text '\(text)'"
        case let .malformedMerge(index, merge):
            return "tokenizer: merge \(index) '\(merge)' is not two tokens separated by a space"
        case let .mergeNamesUnknownToken(index, merge, token):
            return "tokenizer: merge \(index) '\(merge)' names or produces '\(token)', which is not in the vocabulary"
        case let .specialTokenOutOfRange(key, id, size):
            return "tokenizer: '\(key)' = \(id) is outside the vocabulary of \(size) tokens"
        case let .missingSpecialToken(what):
            return "tokenizer: \(what)"
        case let .vocabularyTooLarge(n):
            return "tokenizer: \(n) tokens do not fit 32-bit token ids"
        }
    }
}
