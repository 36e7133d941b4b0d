/// Everything that can be wrong with a GGUF file, each with a message that names the place.
///
/// Offsets are byte offsets from the start of the file.
public enum GGUFError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be opened or mapped; `reason` is the system's error message, or says
    /// that the path is not a regular file.
    case cannotOpen(path: String, reason: String)
    /// The file does not start with `GGUF`; `found` holds the first bytes read (at most 4).
    case badMagic(found: [UInt8])
    /// The header's version is not 2 or 3 (version 1 used 32-bit counts and is not read).
    case unsupportedVersion(UInt32)
    /// A read of `needed` bytes for `what` at `offset` runs past the end of the `fileSize`-byte file.
    case truncated(what: String, offset: Int, needed: Int, fileSize: Int)
    /// A string or array at `offset` declares a `length` that cannot fit in the rest of the file,
    /// caught before allocating anything for it.
    case lengthBeyondFile(what: String, offset: Int, length: UInt64, fileSize: Int)
    /// A string at `offset` is not valid UTF-8.
    case invalidString(what: String, offset: Int)
    /// Metadata `key` has a value type id that GGUF does not define.
    case invalidValueType(key: String, type: UInt32)
    /// Metadata `key` nests arrays more than 8 deep: no real file does, and refusing it keeps
    /// parsing recursion bounded.
    case nestingTooDeep(key: String)
    /// A metadata key appears twice.
    case duplicateKey(String)
    /// A tensor name appears twice in the tensor table.
    case duplicateTensor(String)
    /// A tensor's ggml type id is not one ``GGMLType`` knows.
    case unknownTensorType(tensor: String, type: UInt32)
    /// A tensor's shape is impossible: no dimensions, more than 4, a zero dimension, or a row length
    /// that is not a multiple of the type's block size (`reason` says which).
    case invalidShape(tensor: String, shape: [UInt64], reason: String)
    /// A tensor's element or byte count overflows `Int`.
    case sizeOverflow(tensor: String, shape: [UInt64])
    /// `general.alignment` is not a power of two between 1 and 2^30.
    case invalidAlignment(String)
    /// A tensor declares no dimensions or more than the 4 ggml has.
    case invalidDimensionCount(tensor: String, count: UInt32)
    /// A tensor's data offset (relative to the data section) is not a multiple of the file's alignment.
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    /// A tensor's bytes `[start, start + byteCount)` (relative to the data section) do not lie
    /// inside the `dataSize`-byte data section.
    case tensorOutOfBounds(tensor: String, start: UInt64, byteCount: UInt64, dataSize: Int)
    /// A tensor needs `byteCount` bytes for its shape and type but the next tensor in file order,
    /// `next`, starts only `gap` bytes after it: the table is inconsistent.
    case tensorSizeMismatch(tensor: String, byteCount: Int, next: String, gap: Int)
    /// A metadata key the caller requires is absent.
    case missingKey(String)
    /// Metadata `key` holds a `found` value where the caller needs `expected`.
    case typeMismatch(key: String, expected: String, found: String)
    /// A tensor the caller requires is absent.
    case missingTensor(String)
    /// A tensor has a type this engine cannot dequantize or multiply (one not in
    /// ``GGMLType/computable``).
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
        case let .invalidDimensionCount(name, count):
            return "tensor '\(name)' has \(count) dimensions (1 to 4 allowed)"
        case let .invalidAlignment(a):
            return "general.alignment = \(a) is not a power of two between 1 and 2^30"
        case let .misalignedTensor(name, offset, alignment):
            return "tensor '\(name)' data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .tensorOutOfBounds(name, start, count, size):
            // Written as start + length: their sum can pass 2^64, which a range would print wrapped.
            return "tensor '\(name)' data at offset \(start), \(count) bytes long, lies outside the \(size)-byte data section"
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
