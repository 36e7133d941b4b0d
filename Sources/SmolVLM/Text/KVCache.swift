#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

/// Keys and values of every layer for positions `0 ..< capacity`, stored in f16 as llama.cpp
/// stores them by default (`type_k` = `type_v` = F16): the rounding to f16 is part of the
/// numerics our logits must agree with.
///
/// Layout: `[layer][position][kvHead · headDimension]`, so one position of one KV head is
/// `headDimension` contiguous halves and consecutive positions are `kvDimension` apart.
final class KVCache {
    let layers: Int
    let capacity: Int
    let kvDimension: Int
    let keys: UnsafeMutablePointer<sv_half>
    let values: UnsafeMutablePointer<sv_half>
    private let mappedBytes: Int

    /// The storage is an anonymous mapping: zero-filled like an initialised buffer, but a page
    /// only becomes resident once a position on it is written, so a 4096-position context that
    /// holds one image prompt (~1100 positions) costs about a quarter of its size in memory.
    ///
    /// - Throws: ``ModelError/invalidHyperParameter(key:value:reason:)`` for a context whose
    ///   cache cannot be mapped (its size overflows, or the address space is exhausted).
    init(layers: Int, capacity: Int, kvDimension: Int) throws(ModelError) {
        self.layers = layers
        self.capacity = capacity
        self.kvDimension = kvDimension
        let (perLayer, o1) = capacity.multipliedReportingOverflow(by: kvDimension)
        let (count, o2) = perLayer.multipliedReportingOverflow(by: layers)
        let (bytes, o3) = count.multipliedReportingOverflow(by: MemoryLayout<sv_half>.size)
        guard !(o1 || o2 || o3) else {
            throw .invalidHyperParameter(key: "context length", value: String(capacity), reason: "its KV cache does not fit in memory")
        }
        mappedBytes = max(bytes, 1)
        let k = Self.zeroedPages(mappedBytes), v = Self.zeroedPages(mappedBytes)
        guard let k, let v else {
            let reason = String(cString: strerror(errno))
            if let k { munmap(k, mappedBytes) }
            if let v { munmap(v, mappedBytes) }
            throw .invalidHyperParameter(key: "context length", value: String(capacity),
                                         reason: "its KV cache (2 × \(mappedBytes) bytes) cannot be mapped: \(reason)")
        }
        keys = k.bindMemory(to: sv_half.self, capacity: count)
        values = v.bindMemory(to: sv_half.self, capacity: count)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(keys), mappedBytes)
        munmap(UnsafeMutableRawPointer(values), mappedBytes)
    }

    private static func zeroedPages(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            return nil
        }
        return p
    }

    /// Bytes held by the cache.
    var byteCount: Int { 2 * layers * capacity * kvDimension * MemoryLayout<sv_half>.size }

    func keys(layer: Int, position: Int) -> UnsafeMutablePointer<sv_half> {
        keys + (layer * capacity + position) * kvDimension
    }

    func values(layer: Int, position: Int) -> UnsafeMutablePointer<sv_half> {
        values + (layer * capacity + position) * kvDimension
    }
}
