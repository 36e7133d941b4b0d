import Foundation
import Kernels

/// Pillow-compatible separable resampling of 8-bit RGB images, as llama.cpp's mtmd resizes
/// (`resize_pillow`): per-dimension filter weights computed in double, normalised, then
/// rounded to 22-bit fixed point; a horizontal pass, then a vertical one, each rounding and
/// clamping to 8 bits. Integer arithmetic after the weights, so a faithful port is byte-exact.
enum PillowResize {
    enum Filter: Sendable {
        case bilinear, bicubic, lanczos

        var support: Double {
            switch self {
            case .bilinear: 1
            case .bicubic: 2
            case .lanczos: 3
            }
        }

        func weight(_ x: Double) -> Double {
            switch self {
            case .lanczos:
                guard -3.0 <= x && x < 3.0 else { return 0 }
                return sinc(x) * sinc(x / 3.0)
            case .bilinear:
                let a = abs(x)
                return a < 1.0 ? 1.0 - a : 0.0
            case .bicubic:
                // Pillow's a = -0.5 (PyTorch and ggml's own bicubic use -0.75).
                let a = -0.5, t = abs(x)
                if t < 1.0 { return ((a + 2.0) * t - (a + 3.0)) * t * t + 1 }
                if t < 2.0 { return (((t - 5) * t + 8) * t - 4) * a }
                return 0
            }
        }

        private func sinc(_ v: Double) -> Double {
            if v == 0 { return 1 }
            let piV = v * 3.141592653589793238462643383279502884
            return sin(piV) / piV
        }
    }

    static let precisionBits = Int(SV_RESAMPLE_PRECISION_BITS)

    /// Which input pixels feed each output pixel, and with what fixed-point weights.
    struct Kernel {
        var size: Int
        var first: [Int32]
        var count: [Int32]
        var weights: [Int32]
    }

    static func kernel(inSize: Int, outSize: Int, filter: Filter) -> Kernel {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)  // widen only when shrinking, against aliasing
        let support = filter.support * filterScale
        let size = Int(support.rounded(.up)) * 2 + 1
        var first = [Int32](repeating: 0, count: outSize)
        var count = [Int32](repeating: 0, count: outSize)
        var pre = [Double](repeating: 0, count: outSize * size)
        for xx in 0 ..< outSize {
            let center = (Double(xx) + 0.5) * scale
            let ss = 1.0 / filterScale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var total = 0.0
            for x in 0 ..< xmax {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                pre[xx * size + x] = w
                total += w
            }
            if total != 0 { for x in 0 ..< xmax { pre[xx * size + x] /= total } }
            first[xx] = Int32(xmin)
            count[xx] = Int32(xmax)
        }
        // Pillow adds ±0.5 and truncates toward zero (not round-half-even).
        let fixed = Double(1 << precisionBits)
        let weights = pre.map { Int32($0 * fixed + ($0 < 0 ? -0.5 : 0.5)) }
        return Kernel(size: size, first: first, count: count, weights: weights)
    }

    /// Resizes `pixels` (RGB, row-major, `width × height`) to `newWidth × newHeight`: the
    /// horizontal pass, then the vertical one (each rounding to 8 bits, as Pillow does), rows
    /// split across `pool`'s threads when there is one.
    static func resize(_ pixels: [UInt8], width: Int, height: Int, to newWidth: Int, _ newHeight: Int, filter: Filter,
                       pool: ThreadPool? = nil, kernels: KernelSet = .default) -> [UInt8] {
        var current = pixels
        let table = kernels.table.pointee
        if newWidth != width {
            let pass = table.resample_h_rgb8 ?? sv_resample_h_rgb8_generic
            let k = kernel(inSize: width, outSize: newWidth, filter: filter)
            var out = [UInt8](repeating: 0, count: newWidth * height * 3)
            current.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    let s = src.baseAddress!, d = dst.baseAddress!
                    forRows(height, pool: pool) { rows in
                        pass(s + rows.lowerBound * width * 3, Int64(width), Int64(rows.count), d + rows.lowerBound * newWidth * 3,
                             Int64(newWidth), k.first, k.count, k.weights, Int64(k.size))
                    }
                }
            }
            current = out
        }
        let w = newWidth
        if newHeight != height {
            let pass = table.resample_v_u8 ?? sv_resample_v_u8_generic
            let k = kernel(inSize: height, outSize: newHeight, filter: filter)
            let rowElems = w * 3
            var out = [UInt8](repeating: 0, count: rowElems * newHeight)
            current.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    let s = src.baseAddress!, d = dst.baseAddress!
                    forRows(newHeight, pool: pool) { rows in
                        pass(s, Int64(rowElems), d, Int64(rows.lowerBound), Int64(rows.upperBound), k.first, k.count, k.weights, Int64(k.size))
                    }
                }
            }
            current = out
        }
        return current
    }

    private static func forRows(_ n: Int, pool: ThreadPool?, _ body: (Range<Int>) -> Void) {
        if let pool, n >= 64 { pool.parallelFor(n, body) } else { body(0 ..< n) }
    }

    /// llama.cpp's `img_tool::resize` with `PAD_CEIL`: the image resized to `contentWidth ×
    /// contentHeight` (the caller's aspect-kept fit) and pasted centred (offsets rounded down)
    /// on a black `canvasWidth × canvasHeight` image. Same-size input is copied, unresized.
    static func resizeCentred(_ pixels: [UInt8], width: Int, height: Int, content contentWidth: Int, _ contentHeight: Int,
                              canvas canvasWidth: Int, _ canvasHeight: Int, filter: Filter) -> [UInt8] {
        if width == canvasWidth && height == canvasHeight { return pixels }
        let content = resize(pixels, width: width, height: height, to: contentWidth, contentHeight, filter: filter)
        var canvas = [UInt8](repeating: 0, count: canvasWidth * canvasHeight * 3)
        let ox = (canvasWidth - contentWidth) / 2, oy = (canvasHeight - contentHeight) / 2
        let row = contentWidth * 3
        for y in 0 ..< contentHeight {
            let dst = ((oy + y) * canvasWidth + ox) * 3
            canvas.replaceSubrange(dst ..< dst + row, with: content[y * row ..< (y + 1) * row])
        }
        return canvas
    }
}
