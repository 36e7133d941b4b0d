import Foundation
import Kernels

/// A reference case written by Tests/Reference (llama.cpp's side of a comparison): a folder
/// with `manifest.json` and raw little-endian arrays it describes.
public struct ReferenceFixture: Sendable {
    public enum LoadError: Error, CustomStringConvertible {
        case missing(String)
        case badArray(String, String)
        public var description: String {
            switch self {
            case let .missing(what): "reference fixture: \(what) is missing"
            case let .badArray(name, why): "reference fixture array '\(name)': \(why)"
            }
        }
    }

    /// An array from the fixture, widened to a Swift type, with its shape.
    public struct Array<Element: Sendable>: Sendable {
        public let values: [Element]
        public let shape: [Int]
        /// Row `i` of a 2-D array.
        public func row(_ i: Int) -> ArraySlice<Element> {
            let n = shape.last ?? values.count
            return values[i * n ..< (i + 1) * n]
        }
        public var rows: Int { shape.count > 1 ? shape[0] : 1 }
    }

    public let name: String
    public let directory: URL
    public let manifest: JSONValue

    /// The folder every fixture lives in: `Tests/Fixtures` of this checkout.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures").standardized

    /// The repository's `models/` folder, where scripts put model files.
    public static let modelsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../models").standardized

    public init(_ name: String) throws {
        self.name = name
        directory = Self.root.appendingPathComponent(name)
        let url = directory.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: url) else { throw LoadError.missing(url.path) }
        manifest = try JSONDecoder().decode(JSONValue.self, from: data)
    }

    public subscript(key: String) -> JSONValue? { manifest[key] }

    private func arrayInfo(_ name: String) throws -> (url: URL, dtype: String, shape: [Int]) {
        guard let info = manifest["arrays"]?[name], let file = info["file"]?.string,
              let dtype = info["dtype"]?.string, let shape = info["shape"]?.array?.compactMap(\.int)
        else { throw LoadError.missing("array '\(name)' in \(self.name)") }
        return (directory.appendingPathComponent(file), dtype, shape)
    }

    /// A float array (stored as f32 or f16).
    public func floats(_ name: String) throws -> Array<Float> {
        let (url, dtype, shape) = try arrayInfo(name)
        let data = try Data(contentsOf: url)
        let values: [Float]
        switch dtype {
        case "f32": values = data.withUnsafeBytes { Swift.Array($0.bindMemory(to: Float.self)) }
        case "f16": values = data.withUnsafeBytes { $0.bindMemory(to: UInt16.self).map { sv_fp16_to_fp32($0) } }
        default: throw LoadError.badArray(name, "dtype \(dtype) is not a float type")
        }
        guard values.count == shape.reduce(1, *) else { throw LoadError.badArray(name, "size does not match shape \(shape)") }
        return Array(values: values, shape: shape)
    }

    /// An integer array (stored as i32 or u8).
    public func ints(_ name: String) throws -> Array<Int> {
        let (url, dtype, shape) = try arrayInfo(name)
        let data = try Data(contentsOf: url)
        let values: [Int]
        switch dtype {
        case "i32": values = data.withUnsafeBytes { $0.bindMemory(to: Int32.self).map { Int($0) } }
        case "u8": values = data.map { Int($0) }
        default: throw LoadError.badArray(name, "dtype \(dtype) is not an integer type")
        }
        guard values.count == shape.reduce(1, *) else { throw LoadError.badArray(name, "size does not match shape \(shape)") }
        return Array(values: values, shape: shape)
    }
}

/// A decoded JSON value.
public enum JSONValue: Sendable, Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(o) = self { return o[key] }
        return nil
    }

    public var string: String? { if case let .string(s) = self { return s }; return nil }
    public var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var double: Double? { if case let .number(n) = self { return n }; return nil }
    public var int: Int? { if case let .number(n) = self, let i = Int(exactly: n) { return i }; return nil }
    public var array: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    public var ints: [Int]? { array?.compactMap(\.int) }
}
