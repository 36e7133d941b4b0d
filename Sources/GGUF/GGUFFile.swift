import Kernels

/// Where a tensor lives and what it holds, as the file's tensor table describes it.
public struct GGUFTensorInfo: Sendable, Hashable {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// The element type of the data: a float type or a quantized block format.
    public let type: GGMLType
    /// Dimensions in ggml order: `shape[0]` is the contiguous (row) dimension.
    public let shape: [Int]
    /// Offset of the data from the start of the file.
    public let fileOffset: Int
    /// Size of the data in bytes (whole blocks of ``type``).
    public let byteCount: Int

    /// Number of elements: the product of ``shape``.
    public var elementCount: Int { shape.reduce(1, *) }
    /// Elements per row (`shape[0]`) and number of rows (product of the rest).
    public var rowLength: Int { shape.first ?? 1 }
    /// Number of rows of ``rowLength`` elements: the product of `shape[1...]` (1 for a vector).
    public var rowCount: Int { shape.dropFirst().reduce(1, *) }
    /// Bytes per row; rows are contiguous, so row `r` starts `r · rowBytes` into the data.
    public var rowBytes: Int { byteCount / max(rowCount, 1) }
}

/// A GGUF file (versions 2 and 3), memory-mapped and validated.
///
/// Opening parses the header, metadata and tensor table with every read bounds-checked, and
/// checks that each tensor's data lies inside the file, is aligned, and does not run into the
/// next tensor. Tensor data are never copied: ``bytes(of:)`` is a view into the mapping,
/// valid as long as this value (or a copy of it) is alive.
public struct GGUFFile: Sendable {
    /// The GGUF format version of the file, 2 or 3 (they differ only in 64-bit counts).
    public let version: UInt32
    /// The header's key/value metadata (architecture, hyperparameters, tokenizer, ...).
    public let metadata: GGUFMetadata
    /// Tensors in the order of the file's tensor table.
    public let tensors: [GGUFTensorInfo]
    /// Alignment of tensor data in bytes: `general.alignment`, or 32 when the file does not set it.
    public let alignment: Int
    /// Offset of the tensor data section from the start of the file.
    public let dataOffset: Int
    /// The mapped (or copied) file bytes that tensor views point into.
    public let storage: ByteStorage
    private let tensorIndex: [String: Int]

    /// Size of the file in bytes.
    public var fileSize: Int { storage.bytes.count }

    static let magic: [UInt8] = Array("GGUF".utf8)
    static let defaultAlignment = 32
    /// Deeper nesting than this is no real file; refusing it keeps recursion bounded.
    static let maxArrayDepth = 8

    /// Maps and parses the file at `path`.
    public init(path: String) throws(GGUFError) {
        try self.init(storage: ByteStorage.map(path: path))
    }

    /// Parses bytes already in memory (for example a file received over the network).
    public init(bytes: some Collection<UInt8>) throws(GGUFError) {
        try self.init(storage: ByteStorage.copy(bytes))
    }

    /// Parses and validates a GGUF file in `storage`, keeping it alive for tensor views.
    /// - Throws: ``GGUFError`` naming the first malformed header field, metadata value or tensor
    ///   table entry, with its offset.
    public init(storage: ByteStorage) throws(GGUFError) {
        self.storage = storage
        var r = ByteCursor(storage.bytes)

        // Header
        if r.remaining < 4 {
            throw .badMagic(found: Array(storage.bytes))
        }
        let found = Array(storage.bytes[0 ..< 4])
        guard found == GGUFFile.magic else { throw .badMagic(found: found) }
        _ = try r.read(UInt32.self, "magic")
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw .unsupportedVersion(version) }
        let tensorCount = try r.read(UInt64.self, "tensor count")
        let kvCount = try r.read(UInt64.self, "metadata count")
        // Each entry takes at least 8 bytes of length prefix, so a count beyond remaining/8
        // cannot be honest; refusing it up front keeps allocations bounded by the file size.
        guard kvCount <= UInt64(r.remaining / 8) else {
            throw .lengthBeyondFile(what: "metadata count", offset: 16, length: kvCount, fileSize: storage.bytes.count)
        }

        // Metadata
        var keys: [String] = []
        var values: [String: GGUFValue] = [:]
        keys.reserveCapacity(Int(kvCount))
        for i in 0 ..< Int(kvCount) {
            let key = try r.readString("metadata key #\(i)")
            let type = try r.read(UInt32.self, "type of '\(key)'")
            let value = try GGUFFile.readValue(&r, type: type, key: key, depth: 0)
            guard values.updateValue(value, forKey: key) == nil else { throw .duplicateKey(key) }
            keys.append(key)
        }
        metadata = GGUFMetadata(keys: keys, values: values)

        var alignment = GGUFFile.defaultAlignment
        if let a = metadata["general.alignment"] {
            guard let v = a.integer, v > 0, v <= 1 << 30, v & (v - 1) == 0 else {
                // The value as the file has it: a negative, a huge or a non-integer value must
                // reach the message without being converted (a negative once trapped here).
                let shown: String = switch a {
                case let .string(s): "\"\(s)\" (a string)"
                case let .uint64(u): String(u)
                default: a.integer.map(String.init) ?? "a value of type \(a.typeName)"
                }
                throw .invalidAlignment(shown)
            }
            alignment = v
        }
        self.alignment = alignment

        // Tensor table
        guard tensorCount <= UInt64(r.remaining / 24) else {  // name length + n_dims + type + offset
            throw .lengthBeyondFile(what: "tensor count", offset: 8, length: tensorCount, fileSize: storage.bytes.count)
        }
        var raw: [(name: String, shape: [UInt64], type: UInt32, offset: UInt64)] = []
        raw.reserveCapacity(Int(tensorCount))
        for i in 0 ..< Int(tensorCount) {
            let name = try r.readString("name of tensor #\(i)")
            let nDims = try r.read(UInt32.self, "dimension count of '\(name)'")
            guard nDims >= 1, nDims <= 4 else { throw .invalidDimensionCount(tensor: name, count: nDims) }
            let shape = try r.readArray(UInt64.self, count: Int(nDims), "shape of '\(name)'")
            let type = try r.read(UInt32.self, "type of '\(name)'")
            let offset = try r.read(UInt64.self, "data offset of '\(name)'")
            raw.append((name, shape, type, offset))
        }

        // The data section starts at the next multiple of the alignment.
        let dataOffset = (r.offset + alignment - 1) / alignment * alignment
        guard dataOffset <= storage.bytes.count else {
            throw .truncated(what: "tensor data section", offset: r.offset, needed: dataOffset - r.offset, fileSize: storage.bytes.count)
        }
        self.dataOffset = dataOffset
        let dataSize = storage.bytes.count - dataOffset

        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        tensors.reserveCapacity(raw.count)
        for t in raw {
            guard let type = GGMLType(rawValue: t.type) else { throw .unknownTensorType(tensor: t.name, type: t.type) }
            var elements = 1
            for d in t.shape {
                guard d > 0 else { throw .invalidShape(tensor: t.name, shape: t.shape, reason: "a dimension is zero") }
                guard d <= UInt64(Int.max) else { throw .sizeOverflow(tensor: t.name, shape: t.shape) }
                let (p, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                guard !overflow else { throw .sizeOverflow(tensor: t.name, shape: t.shape) }
                elements = p
            }
            guard t.shape[0] % UInt64(type.blockElements) == 0 else {
                throw .invalidShape(tensor: t.name, shape: t.shape,
                                    reason: "row length \(t.shape[0]) is not a multiple of \(type.name)'s block of \(type.blockElements)")
            }
            guard let byteCount = type.byteCount(elements: elements) else { throw .sizeOverflow(tensor: t.name, shape: t.shape) }
            guard t.offset % UInt64(alignment) == 0 else {
                throw .misalignedTensor(tensor: t.name, offset: t.offset, alignment: alignment)
            }
            guard t.offset <= UInt64(dataSize), UInt64(byteCount) <= UInt64(dataSize) - t.offset else {
                throw .tensorOutOfBounds(tensor: t.name, start: t.offset, byteCount: UInt64(byteCount), dataSize: dataSize)
            }
            guard index.updateValue(tensors.count, forKey: t.name) == nil else { throw .duplicateTensor(t.name) }
            tensors.append(GGUFTensorInfo(name: t.name, type: type, shape: t.shape.map { Int($0) },
                                          fileOffset: dataOffset + Int(t.offset), byteCount: byteCount))
        }

        // A tensor whose shape needs more bytes than lie before the next tensor's data means the
        // table and the data disagree (ggml refuses such files too).
        let byOffset = tensors.sorted { $0.fileOffset < $1.fileOffset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.fileOffset + a.byteCount > b.fileOffset {
            throw .tensorSizeMismatch(tensor: a.name, byteCount: a.byteCount, next: b.name, gap: b.fileOffset - a.fileOffset)
        }
        self.tensors = tensors
        self.tensorIndex = index
    }

    private static func readValue(_ r: inout ByteCursor, type: UInt32, key: String, depth: Int) throws(GGUFError) -> GGUFValue {
        switch type {
        case 0: return .uint8(try r.read(UInt8.self, "value of '\(key)'"))
        case 1: return .int8(try r.read(Int8.self, "value of '\(key)'"))
        case 2: return .uint16(try r.read(UInt16.self, "value of '\(key)'"))
        case 3: return .int16(try r.read(Int16.self, "value of '\(key)'"))
        case 4: return .uint32(try r.read(UInt32.self, "value of '\(key)'"))
        case 5: return .int32(try r.read(Int32.self, "value of '\(key)'"))
        case 6: return .float32(try r.readFloat("value of '\(key)'"))
        case 7: return .bool(try r.read(UInt8.self, "value of '\(key)'") != 0)
        case 8: return .string(try r.readString("value of '\(key)'"))
        case 9: return .array(try readArray(&r, key: key, depth: depth + 1))
        case 10: return .uint64(try r.read(UInt64.self, "value of '\(key)'"))
        case 11: return .int64(try r.read(Int64.self, "value of '\(key)'"))
        case 12: return .float64(try r.readDouble("value of '\(key)'"))
        default: throw .invalidValueType(key: key, type: type)
        }
    }

    private static func readArray(_ r: inout ByteCursor, key: String, depth: Int) throws(GGUFError) -> GGUFArray {
        guard depth <= maxArrayDepth else { throw .nestingTooDeep(key: key) }
        let start = r.offset
        let type = try r.read(UInt32.self, "array type of '\(key)'")
        let count64 = try r.read(UInt64.self, "array length of '\(key)'")
        // Every element takes at least one byte, so this bounds the count by the file size.
        guard count64 <= UInt64(r.remaining) else {
            throw .lengthBeyondFile(what: "array '\(key)'", offset: start, length: count64, fileSize: r.bytes.count)
        }
        let n = Int(count64)
        let what = "elements of array '\(key)'"
        switch type {
        case 0: return .uint8(try r.readArray(UInt8.self, count: n, what))
        case 1: return .int8(try r.readArray(Int8.self, count: n, what))
        case 2: return .uint16(try r.readArray(UInt16.self, count: n, what))
        case 3: return .int16(try r.readArray(Int16.self, count: n, what))
        case 4: return .uint32(try r.readArray(UInt32.self, count: n, what))
        case 5: return .int32(try r.readArray(Int32.self, count: n, what))
        case 6: return .float32(try r.readArray(UInt32.self, count: n, what).map(Float.init(bitPattern:)))
        case 7: return .bool(try r.readArray(UInt8.self, count: n, what).map { $0 != 0 })
        case 8:
            var out: [String] = []
            out.reserveCapacity(min(n, r.remaining / 8))
            for i in 0 ..< n { out.append(try r.readString("element \(i) of '\(key)'")) }
            return .string(out)
        case 9:
            var out: [GGUFArray] = []
            out.reserveCapacity(min(n, r.remaining / 12))
            for _ in 0 ..< n { out.append(try readArray(&r, key: key, depth: depth + 1)) }
            return .array(out)
        case 10: return .uint64(try r.readArray(UInt64.self, count: n, what))
        case 11: return .int64(try r.readArray(Int64.self, count: n, what))
        case 12: return .float64(try r.readArray(UInt64.self, count: n, what).map(Double.init(bitPattern:)))
        default: throw .invalidValueType(key: key, type: type)
        }
    }

    // MARK: - Tensors

    /// The tensor called `name`, or nil if the file has none.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor called `name`.
    /// - Throws: ``GGUFError/missingTensor(_:)`` if the file has none.
    public func requireTensor(_ name: String) throws(GGUFError) -> GGUFTensorInfo {
        guard let t = tensor(named: name) else { throw .missingTensor(name) }
        return t
    }

    /// The tensor's raw bytes: a view into the mapping, no copy.
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage.bytes[tensor.fileOffset ..< tensor.fileOffset + tensor.byteCount])
    }

    /// The tensor converted to `Float` in ggml element order, exactly as ggml dequantizes it.
    public func dequantize(_ tensor: GGUFTensorInfo) throws(GGUFError) -> [Float] {
        try dequantize(tensor, rows: 0 ..< tensor.rowCount)
    }

    /// Rows `rows` of the tensor (rows of `shape[0]` elements) converted to `Float`.
    public func dequantize(_ tensor: GGUFTensorInfo, rows: Range<Int>) throws(GGUFError) -> [Float] {
        guard let kt = tensor.type.kernelType else {
            throw .unsupportedTensorType(tensor: tensor.name, type: tensor.type.name)
        }
        precondition(rows.lowerBound >= 0 && rows.upperBound <= tensor.rowCount, "row range outside the tensor")
        let n = tensor.rowLength
        let src = bytes(of: tensor)
        return [Float](unsafeUninitializedCapacity: rows.count * n) { out, initialized in
            for (i, row) in rows.enumerated() {
                let rc = sv_dequantize_row(kt, src.baseAddress! + row * tensor.rowBytes, out.baseAddress! + i * n, Int64(n))
                precondition(rc == 0, "kernel refused a validated tensor")
            }
            initialized = rows.count * n
        }
    }
}
