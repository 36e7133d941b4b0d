/// Everything that can be wrong with a GGUF file, each with a message that names the place.
///
/// Offsets are byte offsets from the start of the file.
public enum GGUFError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case badMagic(found: [UInt8])
    case unsupportedVersion(UInt32)
    case truncated(what: String, offset: Int, needed: Int, fileSize: Int)
    case lengthBeyondFile(what: String, offset: Int, length: UInt64, fileSize: Int)
    case invalidString(what: String, offset: Int)
    case invalidValueType(key: String, type: UInt32)
    case nestingTooDeep(key: String)
    case duplicateKey(String)
    case duplicateTensor(String)
    case unknownTensorType(tensor: String, type: UInt32)
    case invalidShape(tensor: String, shape: [UInt64], reason: String)
    case sizeOverflow(tensor: String, shape: [UInt64])
    case invalidAlignment(UInt64)
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    case tensorOutOfBounds(tensor: String, start: UInt64, byteCount: UInt64, dataSize: Int)
    case tensorSizeMismatch(tensor: String, byteCount: Int, next: String, gap: Int)
    case missingKey(String)
    case typeMismatch(key: String, expected: String, found: String)
    case missingTensor(String)
    case unsupportedTensorType(tensor: String, type: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "cannot open '\(path)': \(reason)"
        case let .badMagic(found):
            let shown = found.map { ($0 >= 0x20 && $0 < 0x7f) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
            return "not a GGUF file: magic is '\(shown)', expected 'GGUF'"
        case let .unsupportedVersion(v):
            return "unsupported GGUF version \(v) (this reader handles versions 2 and 3)"
        case let .truncated(what, offset, needed, size):
            return "file is truncated: \(what) at offset \(offset) needs \(needed) bytes but the file ends at \(size)"
        case let .lengthBeyondFile(what, offset, length, size):
            return "\(what) at offset \(offset) claims length \(length), beyond the end of the \(size)-byte file"
        case let .invalidString(what, offset):
            return "\(what) at offset \(offset) is not valid UTF-8"
        case let .invalidValueType(key, type):
            return "metadata '\(key)' has unknown value type \(type)"
        case let .nestingTooDeep(key):
            return "metadata '\(key)' nests arrays too deeply"
        case let .duplicateKey(key):
            return "metadata key '\(key)' appears more than once"
        case let .duplicateTensor(name):
            return "tensor '\(name)' appears more than once"
        case let .unknownTensorType(name, type):
            return "tensor '\(name)' has unknown ggml type \(type)"
        case let .invalidShape(name, shape, reason):
            return "tensor '\(name)' has invalid shape \(shape): \(reason)"
        case let .sizeOverflow(name, shape):
            return "tensor '\(name)' with shape \(shape) has a byte size that overflows"
        case let .invalidAlignment(a):
            return "general.alignment = \(a) is not a power of two between 1 and 2^30"
        case let .misalignedTensor(name, offset, alignment):
            return "tensor '\(name)' data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .tensorOutOfBounds(name, start, count, size):
            return "tensor '\(name)' data [\(start), \(start &+ count)) lies outside the \(size)-byte data section"
        case let .tensorSizeMismatch(name, count, next, gap):
            return "tensor '\(name)' needs \(count) bytes for its shape and type, but tensor '\(next)' starts \(gap) bytes after it"
        case let .missingKey(key):
            return "metadata key '\(key)' is missing"
        case let .typeMismatch(key, expected, found):
            return "metadata '\(key)' is \(found), expected \(expected)"
        case let .missingTensor(name):
            return "tensor '\(name)' is missing"
        case let .unsupportedTensorType(name, type):
            return "tensor '\(name)' has type \(type), which this engine cannot compute with"
        }
    }
}
