/// A bounds-checked little-endian reader over untrusted bytes. Every read checks the
/// remaining length first and throws ``GGUFError/truncated(what:offset:needed:fileSize:)``.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    private func ensure(_ n: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
        if n > remaining { throw .truncated(what: what(), offset: offset, needed: n, fileSize: bytes.count) }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        try ensure(MemoryLayout<T>.size, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws(GGUFError) -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws(GGUFError) -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// A u64 length followed by that many UTF-8 bytes.
    mutating func readString(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
        let start = offset
        let length = try read(UInt64.self, what())
        guard length <= UInt64(remaining) else {
            throw .lengthBeyondFile(what: what(), offset: start, length: length, fileSize: bytes.count)
        }
        let n = Int(length)
        let raw = UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + n])
        guard let s = String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw .invalidString(what: what(), offset: start)
        }
        offset += n
        return s
    }

    /// Reads `count` fixed-size elements in one bounds check (array payloads).
    mutating func readArray<T: FixedWidthInteger>(_: T.Type, count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> [T] {
        let size = MemoryLayout<T>.size
        try ensure(count * size, what())  // count ≤ remaining is checked by the caller, so no overflow
        let base = offset
        let out = [T](unsafeUninitializedCapacity: count) { buf, initialized in
            for i in 0 ..< count {
                buf[i] = T(littleEndian: bytes.loadUnaligned(fromByteOffset: base + i * size, as: T.self))
            }
            initialized = count
        }
        offset += count * size
        return out
    }
}
