#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GGUF
import Kernels
import Synchronization

/// One kernel table (an instruction set's implementations), immutable for the process.
package struct KernelSet: @unchecked Sendable {
    /// The C table of kernel function pointers (static storage in the Kernels target).
    package let table: UnsafePointer<sv_kernels>

    /// The best instruction set this CPU supports, or the one `SMOLVLM_ISA` names.
    package static var `default`: KernelSet { KernelSet(table: sv_kernels_default()) }

    /// A specific instruction set, or nil if this CPU (or this build) lacks it.
    package init?(isa: sv_isa) {
        guard let t = sv_kernels_for(isa) else { return nil }
        table = t
    }

    init(table: UnsafePointer<sv_kernels>) { self.table = table }

    /// The instruction set the table's kernels use.
    package var isa: sv_isa { table.pointee.isa }
    /// The instruction set's name as `SMOLVLM_ISA` spells it (`scalar`, `avx2`, `avx512-vnni`, …).
    package var name: String { String(cString: sv_isa_name(table.pointee.isa)) }

    /// Every instruction set this CPU can run, scalar first.
    package static var supported: [KernelSet] {
        (0 ..< SV_ISA_COUNT.rawValue).compactMap { KernelSet(isa: sv_isa(rawValue: $0)) }
    }
}

/// A row-major weight matrix in a ggml type: `rows` rows of `columns` elements, each row
/// `rowStride` bytes apart. It points into memory someone else keeps alive (a mapped GGUF file).
package struct WeightMatrix: @unchecked Sendable {
    /// The storage type of the elements (F32, F16, Q8_0, Q4_K, …).
    package let type: GGMLType
    /// The same type as the kernels name it.
    package let kernelType: sv_type
    /// Output features: one dot product per row.
    package let rows: Int
    /// Input features: elements per row.
    package let columns: Int
    /// Bytes from one row to the next (whole quantization blocks).
    package let rowStride: Int
    /// The first byte of row 0.
    package let data: UnsafeRawPointer
    /// A copy in the layout of a faster product (see ``repackedForSpeed()``), or nil.
    package private(set) var repacked: RepackedQ8Matrix?
    /// Whether `data` lies in a file mapping, whose pages may be dropped once copied.
    private var sourceIsFileMapping = false

    /// Wraps `rows` rows of `columns` elements of `type` at `data` (not copied; the caller keeps
    /// the memory alive).
    ///
    /// - Throws: `GGUFError.unsupportedTensorType` for a type the kernels
    ///   lack, `GGUFError.invalidShape` when a row is not a whole
    ///   number of blocks.
    package init(type: GGMLType, rows: Int, columns: Int, data: UnsafeRawPointer) throws(GGUFError) {
        guard let kt = type.kernelType else { throw .unsupportedTensorType(tensor: "matrix", type: type.name) }
        guard let stride = type.byteCount(elements: columns) else {
            throw .invalidShape(tensor: "matrix", shape: [UInt64(columns), UInt64(rows)], reason: "row length is not a whole number of blocks")
        }
        self.type = type
        kernelType = kt
        self.rows = rows
        self.columns = columns
        rowStride = stride
        self.data = data
    }

    /// The matrix of a 2-D tensor in a mapped GGUF file (`shape[0]` = columns).
    package init(_ tensor: GGUFTensorInfo, in file: GGUFFile) throws(GGUFError) {
        let bytes = file.bytes(of: tensor)
        guard let base = bytes.baseAddress else {
            throw .invalidShape(tensor: tensor.name, shape: tensor.shape.map(UInt64.init), reason: "the tensor has no data")
        }
        try self.init(type: tensor.type, rows: tensor.rowCount, columns: tensor.rowLength, data: base)
        sourceIsFileMapping = file.storage.isFileMapping
    }

    /// This matrix with a repacked copy for the table's faster Q8_0 product (16 rows per group,
    /// vpdpbusd-ready; sv_gemm_q8_0_r16), when the matrix is Q8_0 with a multiple of 16 rows and
    /// the best kernel table has that product; otherwise unchanged. Each output keeps the bits of
    /// the table's Q8_0 vec_dot (llama.cpp's order). The copy is the matrix's size again; the
    /// source's pages, when they are a file mapping, are handed back to the kernel once copied,
    /// so resident memory does not grow (a later read of the source, e.g. an embedding row, pages
    /// it back in from the file). Memory that is not a file mapping is left alone.
    package func repackedForSpeed() -> WeightMatrix {
        guard repacked == nil, let packed = RepackedQ8Matrix(self, releasingSource: sourceIsFileMapping) else { return self }
        var copy = self
        copy.repacked = packed
        return copy
    }

    /// The activation type this matrix multiplies against (ggml's vec_dot_type).
    package var activationType: sv_type { sv_vec_dot_type(kernelType) }
    /// Bytes of one activation row once converted to ``activationType``.
    package var activationRowBytes: Int { sv_row_bytes(activationType, Int64(columns)) }
}

/// Matrix products the way ggml's CPU backend does them: activations are first converted to
/// the weight type's partner (Q8_0, Q8_1, Q8_K, F16, BF16 or F32), then every output is one
/// dot product of a weight row with a converted activation row. Rows are split across threads.
/// Multi-row products use the table's register-tiled gemm for the weight type where it has one
/// (each output bit-identical to the vec_dot, so results do not depend on the thread count).
/// Where llama.cpp's own order depends on the product's shape (repacked Q4_0/Q4_K weights,
/// multi-row F16 products through llamafile's sgemm), `sv_matmul_rows_ggml` follows it, so `m`
/// must be the whole batch. Q8_0 matrices with a repacked copy (``WeightMatrix/repackedForSpeed()``)
/// go through `sv_gemm_q8_0_r16` instead, 16 outputs per vector, each with the bits of the x86
/// tables' vec_dot (llama.cpp's x86 order, on every instruction set that has the product).
/// Built with the `OpenBLAS` trait, float-weight products of 32 or more rows go to OpenBLAS instead
/// (see ``usesOpenBLAS``).
package enum MatMul {
    /// True when this build routes F32/F16/BF16 products of 32 or more activation rows through
    /// OpenBLAS (the `OpenBLAS` package trait): their outputs then agree with llama.cpp's to
    /// rounding instead of matching its CPU backend bit for bit.
    package static var usesOpenBLAS: Bool {
        #if OPENBLAS
        true
        #else
        false
        #endif
    }

    /// `y[j][r] = Σ_c w[r][c] · x[j][c]` for `m` activation rows of `w.columns` floats.
    ///
    /// - Parameters:
    ///   - w: the weights.
    ///   - x: `m × w.columns` floats, row-major.
    ///   - m: activation rows (tokens or patches).
    ///   - y: `m × w.rows` floats, row-major.
    ///   - scratch: reused buffer for converted activations; grown as needed.
    ///   - pool: threads to split the weight rows across.
    ///   - kernels: the kernel table to compute with.
    package static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, rows m: Int,
                                into y: UnsafeMutablePointer<Float>,
                                scratch: inout ScratchBuffer, pool: ThreadPool, kernels: KernelSet) {
        #if OPENBLAS
        if BLASMatMul.handles(w, rows: m) {
            pool.traced(.matmul(w, batch: m)) {
                BLASMatMul.multiply(w, x, rows: m, into: y, scratch: &scratch, pool: pool)
            }
            return
        }
        #endif
        multiplyOnKernels(w, x, rows: m, into: y, scratch: &scratch, pool: pool, kernels: kernels)
    }

    /// ``multiply(_:_:rows:into:scratch:pool:kernels:)`` on the engine's kernels even in an
    /// OpenBLAS build: for products whose "weights" are computed per input (the patch
    /// embedding's im2col), which are not what the trait is for and, kept in llama.cpp's order,
    /// leave quantized models' results bit-identical to llama.cpp's with the trait on.
    static func multiplyOnKernels(_ w: WeightMatrix, _ x: UnsafePointer<Float>, rows m: Int,
                                  into y: UnsafeMutablePointer<Float>,
                                  scratch: inout ScratchBuffer, pool: ThreadPool, kernels: KernelSet) {
        let actType = w.activationType
        let actRowBytes = w.activationRowBytes
        let fast = w.repacked.flatMap { packed in kernels.table.pointee.gemm_q8_0_r16.map { (packed, $0) } }
        let sumsOffset = (actRowBytes * m + 63) / 64 * 64
        let converted = scratch.reserve(fast == nil ? actRowBytes * m : sumsOffset + m * w.columns)
        guard let convert = sv_kernels_from_float(kernels.table, actType) else {
            preconditionFailure("no conversion to \(actType) in the \(kernels.name) table")
        }
        let cols = w.columns
        pool.traced(.convert(to: String(cString: sv_type_name(actType)), rows: m, columns: cols)) {
            if m == 1 {
                convert(x, converted, Int64(cols))
            } else {
                pool.parallelFor(m) { range in
                    for j in range { convert(x + j * cols, converted + j * actRowBytes, Int64(cols)) }
                }
            }
        }
        pool.traced(.matmul(w, batch: m)) {
            if let (packed, gemm) = fast {
                let packedData = packed.data
                let sums = (converted + sumsOffset).assumingMemoryBound(to: Int32.self)
                sv_q8_0_quad_sums(converted, actRowBytes, Int64(m), Int64(cols), sums)
                pool.parallelFor(w.rows / 16) { groups in
                    gemm(Int64(cols), packedData, Int64(groups.lowerBound), Int64(groups.upperBound),
                         converted, actRowBytes, sums, Int64(m), y, Int64(w.rows))
                }
                return
            }
            // Weight rows are split in multiples of 16 so threads never share a cache line of `y`.
            pool.parallelFor(w.rows, granularity: 16) { range in
                sv_matmul_rows_ggml(kernels.table, w.kernelType, Int64(cols), w.data, w.rowStride, Int64(w.rows),
                                    converted, actRowBytes, Int64(m), y, Int64(w.rows),
                                    Int64(range.lowerBound), Int64(range.upperBound))
            }
        }
    }
}

/// A growable, 64-byte-aligned byte buffer reused across calls (no per-token allocation).
package struct ScratchBuffer: ~Copyable {
    private var base: UnsafeMutableRawPointer?
    private var capacity = 0

    /// An empty buffer; the first ``reserve(_:)`` allocates.
    package init() {}

    deinit { base?.deallocate() }

    /// A pointer to at least `bytes` bytes, valid until the next call.
    package mutating func reserve(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > capacity || base == nil {
            base?.deallocate()
            capacity = max(bytes, capacity * 2, 64)
            base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        }
        return base!
    }
}


/// Q8_0 weights repacked 16 rows at a time for `sv_gemm_q8_0_r16` (the same bytes per block as
/// Q8_0: quants regrouped, scales gathered). Immutable once made; shared by every thread.
package final class RepackedQ8Matrix: @unchecked Sendable {
    private let source: WeightMatrix
    private let releasesSource: Bool
    private let bytes: Int
    private let lock = Mutex<UnsafeMutableRawPointer?>(nil)

    /// Prepares `w` for repacking, or nil unless it is Q8_0 with a multiple of 16 rows and this
    /// CPU's best kernel table has the repacked product. The copy is made on first use, so a
    /// model's matrices take their copy's memory only once they are computed with (a text
    /// decoder's copies do not sit next to the vision encoder's buffers while an image encodes).
    ///
    /// With `releasingSource`, the source's pages are dropped from memory as they are copied:
    /// only for a file mapping, which reads them back from the file if they are touched again
    /// (anonymous memory would come back zeroed).
    init?(_ w: WeightMatrix, releasingSource: Bool) {
        bytes = sv_q8_0_r16_bytes(Int64(w.rows), Int64(w.columns))
        guard w.type == .q8_0, bytes > 0, KernelSet.default.table.pointee.gemm_q8_0_r16 != nil else { return nil }
        source = w
        releasesSource = releasingSource
    }

    /// The repacked blocks (64-byte aligned), made by the first caller.
    var data: UnsafeMutableRawPointer {
        lock.withLock { data in
            if let data { return data }
            let made = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            // A slice at a time, each slice's source pages released as soon as it is copied, so
            // the copy never sits in memory next to the whole source (peak = copy + one slice).
            let w = source
            let sliceRows = 256
            let groupBytes = bytes / (w.rows / 16)
            for r0 in stride(from: 0, to: w.rows, by: sliceRows) {
                let rows = min(sliceRows, w.rows - r0)
                let slice = w.data + r0 * w.rowStride
                sv_repack_q8_0_r16(slice, w.rowStride, Int64(rows), Int64(w.columns), made + (r0 / 16) * groupBytes)
                if releasesSource { Self.releasePages(slice, byteCount: rows * w.rowStride) }
            }
            data = made
            return made
        }
    }

    deinit { lock.withLock { $0?.deallocate() } }

    /// The whole pages inside `[start, start + byteCount)` of a read-only file mapping are
    /// dropped from memory (read again from the file if ever touched): the copy replaces them.
    private static func releasePages(_ start: UnsafeRawPointer, byteCount: Int) {
        let page = Int(getpagesize())
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + byteCount) / page * page
        guard end > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(p, end - first, MADV_DONTNEED)
    }
}
