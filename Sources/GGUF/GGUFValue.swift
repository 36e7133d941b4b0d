/// One metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable {
    /// GGUF type 0: unsigned 8-bit integer.
    case uint8(UInt8)
    /// GGUF type 1: signed 8-bit integer.
    case int8(Int8)
    /// GGUF type 2: unsigned 16-bit integer.
    case uint16(UInt16)
    /// GGUF type 3: signed 16-bit integer.
    case int16(Int16)
    /// GGUF type 4: unsigned 32-bit integer (most hyperparameters).
    case uint32(UInt32)
    /// GGUF type 5: signed 32-bit integer.
    case int32(Int32)
    /// GGUF type 6: 32-bit float (epsilons, RoPE bases).
    case float32(Float)
    /// GGUF type 7: boolean (one byte, 0 or 1).
    case bool(Bool)
    /// GGUF type 8: UTF-8 string.
    case string(String)
    /// GGUF type 9: a homogeneous array (vocabularies, merges, per-token scores).
    case array(GGUFArray)
    /// GGUF type 10: unsigned 64-bit integer.
    case uint64(UInt64)
    /// GGUF type 11: signed 64-bit integer.
    case int64(Int64)
    /// GGUF type 12: 64-bit float.
    case float64(Double)

    /// GGUF's name for the value's type, as in the specification.
    public var typeName: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .float32: "float32"
        case .bool: "bool"
        case .string: "string"
        case let .array(a): "array[\(a.elementTypeName)]"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float64: "float64"
        }
    }

    /// Any integer value as `Int`, if it fits.
    public var integer: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }
}

/// A homogeneous metadata array, stored unboxed (a vocabulary has ~50k entries).
public enum GGUFArray: Sendable, Equatable {
    /// Array of unsigned 8-bit integers.
    case uint8([UInt8])
    /// Array of signed 8-bit integers.
    case int8([Int8])
    /// Array of unsigned 16-bit integers.
    case uint16([UInt16])
    /// Array of signed 16-bit integers.
    case int16([Int16])
    /// Array of unsigned 32-bit integers.
    case uint32([UInt32])
    /// Array of signed 32-bit integers (e.g. `tokenizer.ggml.token_type`).
    case int32([Int32])
    /// Array of 32-bit floats (e.g. `tokenizer.ggml.scores`, image mean and std).
    case float32([Float])
    /// Array of booleans.
    case bool([Bool])
    /// Array of UTF-8 strings (e.g. `tokenizer.ggml.tokens` and `tokenizer.ggml.merges`).
    case string([String])
    /// Array of arrays (nesting is limited to 8 levels when parsing).
    case array([GGUFArray])
    /// Array of unsigned 64-bit integers.
    case uint64([UInt64])
    /// Array of signed 64-bit integers.
    case int64([Int64])
    /// Array of 64-bit floats.
    case float64([Double])

    /// Number of elements.
    public var count: Int {
        switch self {
        case let .uint8(a): a.count
        case let .int8(a): a.count
        case let .uint16(a): a.count
        case let .int16(a): a.count
        case let .uint32(a): a.count
        case let .int32(a): a.count
        case let .float32(a): a.count
        case let .bool(a): a.count
        case let .string(a): a.count
        case let .array(a): a.count
        case let .uint64(a): a.count
        case let .int64(a): a.count
        case let .float64(a): a.count
        }
    }

    /// GGUF's name for the element type, as in the specification (e.g. `string`), for messages.
    public var elementTypeName: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .float32: "float32"
        case .bool: "bool"
        case .string: "string"
        case .array: "array"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float64: "float64"
        }
    }

    /// Integer elements widened to `Int`, or nil if the array is not of an integer type.
    public var integers: [Int]? {
        switch self {
        case let .uint8(a): a.map { Int($0) }
        case let .int8(a): a.map { Int($0) }
        case let .uint16(a): a.map { Int($0) }
        case let .int16(a): a.map { Int($0) }
        case let .uint32(a): a.map { Int($0) }
        case let .int32(a): a.map { Int($0) }
        case let .int64(a): a.map { Int($0) }
        case let .uint64(a): a.allSatisfy({ $0 <= UInt64(Int.max) }) ? a.map { Int($0) } : nil
        default: nil
        }
    }

    /// Float elements as `Float`, or nil if the array is not of a float type.
    public var floats: [Float]? {
        switch self {
        case let .float32(a): a
        case let .float64(a): a.map { Float($0) }
        default: nil
        }
    }
}

/// The key/value metadata of a GGUF file, in file order, with typed accessors that throw
/// ``GGUFError/missingKey(_:)`` or ``GGUFError/typeMismatch(key:expected:found:)``.
public struct GGUFMetadata: Sendable {
    /// Keys in the order the file lists them.
    public let keys: [String]
    private let values: [String: GGUFValue]

    init(keys: [String], values: [String: GGUFValue]) {
        self.keys = keys
        self.values = values
    }

    /// The value stored under `key`, or nil if the file has no such key.
    public subscript(key: String) -> GGUFValue? { values[key] }

    /// True if the file has a value under `key`, whatever its type.
    public func contains(_ key: String) -> Bool { values[key] != nil }

    private func require(_ key: String) throws -> GGUFValue {
        guard let v = values[key] else { throw GGUFError.missingKey(key) }
        return v
    }

    /// An integer of any GGUF integer type, as `Int`.
    public func integer(_ key: String) throws -> Int {
        let v = try require(key)
        guard let i = v.integer else { throw GGUFError.typeMismatch(key: key, expected: "an integer", found: v.typeName) }
        return i
    }

    /// A value stored exactly as uint32 (no conversion from other integer types).
    /// - Throws: ``GGUFError/missingKey(_:)`` or ``GGUFError/typeMismatch(key:expected:found:)``.
    public func uint32(_ key: String) throws -> UInt32 {
        let v = try require(key)
        guard case let .uint32(x) = v else { throw GGUFError.typeMismatch(key: key, expected: "uint32", found: v.typeName) }
        return x
    }

    /// A float32 or float64 value, as `Float`.
    public func float(_ key: String) throws -> Float {
        let v = try require(key)
        switch v {
        case let .float32(x): return x
        case let .float64(x): return Float(x)
        default: throw GGUFError.typeMismatch(key: key, expected: "a float", found: v.typeName)
        }
    }

    /// A bool value.
    /// - Throws: ``GGUFError/missingKey(_:)`` or ``GGUFError/typeMismatch(key:expected:found:)``.
    public func bool(_ key: String) throws -> Bool {
        let v = try require(key)
        guard case let .bool(x) = v else { throw GGUFError.typeMismatch(key: key, expected: "bool", found: v.typeName) }
        return x
    }

    /// A string value.
    /// - Throws: ``GGUFError/missingKey(_:)`` or ``GGUFError/typeMismatch(key:expected:found:)``.
    public func string(_ key: String) throws -> String {
        let v = try require(key)
        guard case let .string(x) = v else { throw GGUFError.typeMismatch(key: key, expected: "string", found: v.typeName) }
        return x
    }

    /// An array value of any element type.
    /// - Throws: ``GGUFError/missingKey(_:)`` or ``GGUFError/typeMismatch(key:expected:found:)``.
    public func array(_ key: String) throws -> GGUFArray {
        let v = try require(key)
        guard case let .array(x) = v else { throw GGUFError.typeMismatch(key: key, expected: "array", found: v.typeName) }
        return x
    }

    /// An array of strings.
    /// - Throws: ``GGUFError/missingKey(_:)`` or ``GGUFError/typeMismatch(key:expected:found:)``
    ///   if the value is not an array of strings.
    public func strings(_ key: String) throws -> [String] {
        let a = try array(key)
        guard case let .string(x) = a else { throw GGUFError.typeMismatch(key: key, expected: "array[string]", found: "array[\(a.elementTypeName)]") }
        return x
    }

    /// An array of any integer type, widened to `Int`.
    /// - Throws: ``GGUFError/missingKey(_:)`` or ``GGUFError/typeMismatch(key:expected:found:)``
    ///   if the value is not an integer array (or holds a uint64 beyond `Int.max`).
    public func integers(_ key: String) throws -> [Int] {
        let a = try array(key)
        guard let x = a.integers else { throw GGUFError.typeMismatch(key: key, expected: "array of integers", found: "array[\(a.elementTypeName)]") }
        return x
    }

    /// An array of float32 or float64, as `Float`.
    /// - Throws: ``GGUFError/missingKey(_:)`` or ``GGUFError/typeMismatch(key:expected:found:)``
    ///   if the value is not a float array.
    public func floats(_ key: String) throws -> [Float] {
        let a = try array(key)
        guard let x = a.floats else { throw GGUFError.typeMismatch(key: key, expected: "array of floats", found: "array[\(a.elementTypeName)]") }
        return x
    }
}
