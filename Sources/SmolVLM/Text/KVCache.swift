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

    init(layers: Int, capacity: Int, kvDimension: Int) {
        self.layers = layers
        self.capacity = capacity
        self.kvDimension = kvDimension
        let count = layers * capacity * kvDimension
        keys = .allocate(capacity: count)
        values = .allocate(capacity: count)
        keys.initialize(repeating: 0, count: count)
        values.initialize(repeating: 0, count: count)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
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
