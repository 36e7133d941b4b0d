/// Sizes and grid of the idefics3 preprocessing, before any pixel is touched: how llama.cpp's
/// `mtmd_image_preprocessor_idefics3` sizes the refined image in each branch, with the same
/// integer and single-precision arithmetic, so the same image gets the same grid.
extension Idefics3Preprocessor {
    /// Which of llama.cpp's two idefics3 slicing algorithms a ``Plan`` follows, chosen by the mmproj
    /// file's metadata and the token limits.
    public enum Branch: Sendable, Equatable {
        /// `clip.vision.preproc_image_size` present, no token limit: Lanczos to the longest edge.
        case longestEdge
        /// llava-uhd slicing: bicubic, aspect kept and padded for the slices.
        case llavaUHD
    }

    /// What ``callAsFunction(_:)`` will do to an image of a given size.
    public struct Plan: Sendable, Equatable {
        /// The slicing algorithm used.
        public var branch: Branch
        /// Slices across and down; 0 × 0 when the image is not sliced (global image only).
        public var gridX: Int
        /// Slices down (rows of the grid); 0 when not sliced.
        public var gridY: Int
        /// The image the slices are cut from: whole tiles (one tile when not sliced).
        public var refinedWidth: Int
        /// Height of the refined image in pixels, a whole number of tiles.
        public var refinedHeight: Int
        /// Longest edge: the size after the aspect-preserving resize. llava-uhd: the size of the
        /// picture inside the black-padded refined image.
        public var contentWidth: Int
        /// Height of the picture within the refined image, in pixels.
        public var contentHeight: Int

        /// True if the image is cut into slices besides the global image.
        public var isSliced: Bool { gridX > 0 }
        /// Tiles in the output: the slices and the global image.
        public var tileCount: Int { gridX * gridY + 1 }
        var largestResizeSide: Int { max(refinedWidth, refinedHeight, contentWidth, contentHeight) }
    }

    /// The branch llama.cpp takes: the longest-edge one needs the key and no pixel limit.
    public var branch: Branch {
        longestEdge != nil && minPixels == nil && maxPixels == nil ? .longestEdge : .llavaUHD
    }

    /// The grid and sizes for a `width × height` image (both > 0).
    public func plan(width: Int, height: Int) -> Plan {
        precondition(width > 0 && height > 0, "the image must not be empty")
        var p: Plan
        switch branch {
        case .longestEdge:
            var edge = longestEdge!
            p = longestEdgePlan(width: width, height: height, edge: edge)
            if let n = maxTiles {
                while p.gridX * p.gridY > n && edge > tileSize {
                    edge = max(tileSize, edge - tileSize)
                    p = longestEdgePlan(width: width, height: height, edge: edge)
                }
                // Only an odd tile size can leave 2 tiles at edge = tileSize (the even rounding).
                if p.gridX * p.gridY > n { (p.gridX, p.gridY) = (1, 1) }
                (p.refinedWidth, p.refinedHeight) = (p.gridX * tileSize, p.gridY * tileSize)
            }
        case .llavaUHD:
            p = llavaUHDPlan(width: width, height: height)
        }
        if maxTiles != nil && p.gridX * p.gridY == 1 {
            (p.gridX, p.gridY) = (0, 0)
        }
        return p
    }

    private func longestEdgePlan(width: Int, height: Int, edge: Int) -> Plan {
        // Double, as llama.cpp (and Hugging Face) compute the aspect ratio.
        let aspect = Double(width) / Double(height)
        var rw: Int, rh: Int
        if width >= height {
            rw = edge
            rh = Int(Double(edge) / aspect)
            rh += rh % 2
        } else {
            rh = edge
            rw = Int(Double(edge) * aspect)
            rw += rw % 2
        }
        // llama.cpp refuses a 0-pixel side (an aspect ratio beyond 1:edge); Hugging Face keeps 1.
        rw = max(rw, 1)
        rh = max(rh, 1)
        let gx = (rw + tileSize - 1) / tileSize, gy = (rh + tileSize - 1) / tileSize
        return Plan(branch: .longestEdge, gridX: gx, gridY: gy, refinedWidth: gx * tileSize, refinedHeight: gy * tileSize,
                    contentWidth: rw, contentHeight: rh)
    }

    private func llavaUHDPlan(width: Int, height: Int) -> Plan {
        let tile = tileSize
        var limit = maxPixels ?? 0
        if let n = maxTiles {
            // The budget as a pixel limit: the same floor-to-whole-tiles scaling llama.cpp uses.
            let budget = n > Int.max / (tile * tile) ? Int.max : n * tile * tile
            limit = limit > 0 ? min(limit, budget) : budget
        }
        let refined = Self.preservedRatioSize(width: width, height: height, align: tile,
                                              minPixels: minPixels ?? 0, maxPixels: limit, longestEdge: longestEdge ?? 0)
        // llama.cpp: ceil(float(side) / tile); the sides are whole tiles already.
        var gx = Int((Float(refined.width) / Float(tile)).rounded(.up))
        var gy = Int((Float(refined.height) / Float(tile)).rounded(.up))
        if let n = maxTiles {
            // At least one tile a side can exceed the budget at extreme aspect ratios.
            while gx * gy > n {
                if gx >= gy { gx -= 1 } else { gy -= 1 }
            }
        }
        let rw = gx * tile, rh = gy * tile
        // img_tool::resize with PAD_CEIL: the largest aspect-kept size that fits, sides ceiled.
        let scale = min(Float(rw) / Float(width), Float(rh) / Float(height))
        let cw = min(Int((Float(width) * scale).rounded(.up)), rw)
        let ch = min(Int((Float(height) * scale).rounded(.up)), rh)
        return Plan(branch: .llavaUHD, gridX: gx, gridY: gy, refinedWidth: rw, refinedHeight: rh, contentWidth: cw, contentHeight: ch)
    }

    /// llama.cpp's `img_tool::calc_size_preserved_ratio` ("smart_resize"): the aspect-kept size
    /// with both sides multiples of `align`, in single precision as llama.cpp computes it.
    /// Zero limits are disabled.
    static func preservedRatioSize(width: Int, height: Int, align: Int, minPixels: Int, maxPixels: Int, longestEdge: Int) -> (width: Int, height: Int) {
        let f = Float(align)
        // std::round on a float: halves away from zero.
        func roundBy(_ x: Float) -> Int { Int((x / f).rounded(.toNearestOrAwayFromZero)) * align }
        func ceilBy(_ x: Float) -> Int { Int((x / f).rounded(.up)) * align }
        func floorBy(_ x: Float) -> Int { Int((x / f).rounded(.down)) * align }
        let w = Float(width), h = Float(height)

        var wBar: Int, hBar: Int
        if longestEdge > 0 {
            let scale = min(Float(longestEdge) / w, Float(longestEdge) / h)
            wBar = ceilBy(w * scale)
            hBar = ceilBy(h * scale)
        } else {
            wBar = max(align, roundBy(w))
            hBar = max(align, roundBy(h))
        }
        if maxPixels > 0 && hBar * wBar > maxPixels {
            let beta = (h * w / Float(maxPixels)).squareRoot()
            hBar = max(align, floorBy(h / beta))
            wBar = max(align, floorBy(w / beta))
        } else if minPixels > 0 && hBar * wBar < minPixels {
            let beta = (Float(minPixels) / (h * w)).squareRoot()
            hBar = ceilBy(h * beta)
            wBar = ceilBy(w * beta)
        }
        return (wBar, hBar)
    }
}
