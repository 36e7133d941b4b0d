/// Writes GGUF bytes field by field, so tests can craft valid and deliberately broken files.
struct GGUFBuilder {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }

    struct Tensor {
        var name: String
        var shape: [UInt64]
        var type: UInt32
        var offset: UInt64
    }

    /// A whole file: header, metadata written by `kv` (which must write `kvCount` entries),
    /// tensor table, padding to `alignment`, then `data`.
    static func file(version: UInt32 = 3, kvCount: UInt64 = 0, kv: (inout GGUFBuilder) -> Void = { _ in },
                     tensors: [Tensor] = [], tensorCount: UInt64? = nil,
                     alignment: Int = 32, data: [UInt8] = []) -> [UInt8] {
        var b = GGUFBuilder()
        b.raw(Array("GGUF".utf8))
        b.u32(version)
        b.u64(tensorCount ?? UInt64(tensors.count))
        b.u64(kvCount)
        kv(&b)
        for t in tensors {
            b.string(t.name)
            b.u32(UInt32(t.shape.count))
            for d in t.shape { b.u64(d) }
            b.u32(t.type)
            b.u64(t.offset)
        }
        b.pad(to: alignment)
        b.raw(data)
        return b.bytes
    }

    /// A string-valued metadata entry.
    mutating func kvString(_ key: String, _ value: String) { string(key); u32(8); string(value) }
    mutating func kvU32(_ key: String, _ value: UInt32) { string(key); u32(4); u32(value) }
    mutating func kvI8(_ key: String, _ value: Int8) { string(key); u32(1); u8(UInt8(bitPattern: value)) }
    mutating func kvI32(_ key: String, _ value: Int32) { string(key); u32(5); u32(UInt32(bitPattern: value)) }
    mutating func kvI64(_ key: String, _ value: Int64) { string(key); u32(11); u64(UInt64(bitPattern: value)) }
}
