import Foundation

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

    static let precisionBits = 32 - 8 - 2

    /// Which input pixels feed each output pixel, and with what fixed-point weights.
    struct Kernel {
        var size: Int
        var first: [Int]
        var count: [Int]
        var weights: [Int32]
    }

    static func kernel(inSize: Int, outSize: Int, filter: Filter) -> Kernel {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1.0)  // widen only when shrinking, against aliasing
        let support = filter.support * filterScale
        let size = Int(support.rounded(.up)) * 2 + 1
        var first = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
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
            first[xx] = xmin
            count[xx] = xmax
        }
        // Pillow adds ±0.5 and truncates toward zero (not round-half-even).
        let fixed = Double(1 << precisionBits)
        let weights = pre.map { Int32($0 * fixed + ($0 < 0 ? -0.5 : 0.5)) }
        return Kernel(size: size, first: first, count: count, weights: weights)
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt8 { UInt8(clamping: v >> Int32(precisionBits)) }

    /// Resizes `pixels` (RGB, row-major, `width × height`) to `newWidth × newHeight`.
    static func resize(_ pixels: [UInt8], width: Int, height: Int, to newWidth: Int, _ newHeight: Int, filter: Filter) -> [UInt8] {
        var current = pixels
        var w = width
        let half = Int32(1 << (precisionBits - 1))
        if newWidth != width {
            let k = kernel(inSize: width, outSize: newWidth, filter: filter)
            var out = [UInt8](repeating: 0, count: newWidth * height * 3)
            current.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for y in 0 ..< height {
                        let row = y * width * 3
                        for xx in 0 ..< newWidth {
                            var s0 = half, s1 = half, s2 = half
                            var p = row + k.first[xx] * 3
                            for x in 0 ..< k.count[xx] {
                                let wgt = k.weights[xx * k.size + x]
                                s0 &+= Int32(src[p]) &* wgt
                                s1 &+= Int32(src[p + 1]) &* wgt
                                s2 &+= Int32(src[p + 2]) &* wgt
                                p += 3
                            }
                            let o = (y * newWidth + xx) * 3
                            dst[o] = clip8(s0); dst[o + 1] = clip8(s1); dst[o + 2] = clip8(s2)
                        }
                    }
                }
            }
            current = out
            w = newWidth
        }
        if newHeight != height {
            let k = kernel(inSize: height, outSize: newHeight, filter: filter)
            let rowElems = w * 3
            var out = [UInt8](repeating: 0, count: rowElems * newHeight)
            var acc = [Int32](repeating: 0, count: rowElems)
            current.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for yy in 0 ..< newHeight {
                        for i in 0 ..< rowElems { acc[i] = half }
                        for y in 0 ..< k.count[yy] {
                            let wgt = k.weights[yy * k.size + y]
                            let r = (k.first[yy] + y) * rowElems
                            for i in 0 ..< rowElems { acc[i] &+= Int32(src[r + i]) &* wgt }
                        }
                        for i in 0 ..< rowElems { dst[yy * rowElems + i] = clip8(acc[i]) }
                    }
                }
            }
            current = out
        }
        return current
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
