#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only bytes of a model file: a private read-only memory mapping of the file, or an
/// owned copy of bytes handed in by the caller. Tensor data are views into it, never copies.
///
/// Immutable after creation, so sharing it across threads is safe.
public final class ByteStorage: @unchecked Sendable {
    /// The whole file (or copy). Valid for as long as this object is alive: the mapping is
    /// unmapped, or the copy freed, when it is deallocated.
    public let bytes: UnsafeRawBufferPointer
    /// True for a mapping of a file: its pages can be dropped from memory and read back from the
    /// file on the next touch. False for an owned copy, whose dropped pages would come back zeroed.
    public let isFileMapping: Bool
    private let release: @Sendable (UnsafeRawBufferPointer) -> Void

    private init(bytes: UnsafeRawBufferPointer, isFileMapping: Bool,
                 release: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.bytes = bytes
        self.isFileMapping = isFileMapping
        self.release = release
    }

    deinit { release(bytes) }

    /// Maps the file at `path` read-only.
    public static func map(path: String) throws(GGUFError) -> ByteStorage {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            return ByteStorage(bytes: UnsafeRawBufferPointer(start: nil, count: 0), isFileMapping: false, release: { _ in })
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        return ByteStorage(bytes: UnsafeRawBufferPointer(start: base, count: size), isFileMapping: true) { b in
            munmap(UnsafeMutableRawPointer(mutating: b.baseAddress), b.count)
        }
    }

    /// An owned copy of `bytes` (for data that never lived in a file, and for tests).
    public static func copy(_ bytes: some Collection<UInt8>) -> ByteStorage {
        let count = bytes.count
        // 64-byte alignment so tensor views are as aligned as in a mapping.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
        // Contiguous bytes (Data, Array, buffers) are copied with memcpy; element by element,
        // through an unspecialised generic, a 100 MB file took seconds.
        let copied: Void? = bytes.withContiguousStorageIfAvailable { source in
            if let base = source.baseAddress { buffer.baseAddress?.copyMemory(from: base, byteCount: count) }
        }
        if copied == nil { _ = buffer.initializeMemory(as: UInt8.self, from: bytes) }
        return ByteStorage(bytes: UnsafeRawBufferPointer(start: buffer.baseAddress, count: count), isFileMapping: false) { b in
            UnsafeMutableRawPointer(mutating: b.baseAddress)?.deallocate()
        }
    }
}
