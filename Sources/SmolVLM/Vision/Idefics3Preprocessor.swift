/// The image tiles SmolVLM's vision encoder sees, made the way llama.cpp's mtmd makes them for
/// the `idefics3` projector when the mmproj has `clip.vision.preproc_image_size`:
///
/// 1. resize (aspect kept, Lanczos) so the longer side is `longestEdge` and the shorter side is
///    truncated, then rounded up to even;
/// 2. resize (aspect not kept) up to whole tiles of `tileSize`;
/// 3. cut into tiles, row-major; the overview is that refined image resized to one tile;
/// 4. normalise each channel: (v/255 − mean) / std.
public struct Idefics3Preprocessor: Sendable {
    public var tileSize: Int
    public var longestEdge: Int
    public var mean: [Float]
    public var std: [Float]

    public init(tileSize: Int = 512, longestEdge: Int = 2048, mean: [Float] = [0.5, 0.5, 0.5], std: [Float] = [0.5, 0.5, 0.5]) {
        self.tileSize = tileSize
        self.longestEdge = longestEdge
        self.mean = mean
        self.std = std
    }

    /// Tiles in mtmd's chunk order: slices row by row, then the overview.
    public struct Output: Sendable {
        public var gridX: Int
        public var gridY: Int
        /// Each tile is `tileSize × tileSize × 3` floats, row-major, channels interleaved (HWC).
        public var tiles: [[Float]]
    }

    /// The size after the aspect-preserving resize, and the tile grid.
    public func plan(width: Int, height: Int) -> (resizedWidth: Int, resizedHeight: Int, gridX: Int, gridY: Int) {
        let aspect = Double(width) / Double(height)
        var rw: Int, rh: Int
        if width >= height {
            rw = longestEdge
            rh = Int(Double(longestEdge) / aspect)
            rh += rh % 2
        } else {
            rh = longestEdge
            rw = Int(Double(longestEdge) * aspect)
            rw += rw % 2
        }
        return (rw, rh, (rw + tileSize - 1) / tileSize, (rh + tileSize - 1) / tileSize)
    }

    public func callAsFunction(pixels: [UInt8], width: Int, height: Int) -> Output {
        let p = plan(width: width, height: height)
        let resized = PillowResize.resize(pixels, width: width, height: height, to: p.resizedWidth, p.resizedHeight, filter: .lanczos)
        let refinedW = p.gridX * tileSize, refinedH = p.gridY * tileSize
        let refined = PillowResize.resize(resized, width: p.resizedWidth, height: p.resizedHeight, to: refinedW, refinedH, filter: .lanczos)
        let overview = PillowResize.resize(refined, width: refinedW, height: refinedH, to: tileSize, tileSize, filter: .lanczos)

        var tiles: [[Float]] = []
        for ty in 0 ..< p.gridY {
            for tx in 0 ..< p.gridX {
                var tile = [UInt8](repeating: 0, count: tileSize * tileSize * 3)
                for y in 0 ..< tileSize {
                    let src = ((ty * tileSize + y) * refinedW + tx * tileSize) * 3
                    tile.replaceSubrange(y * tileSize * 3 ..< (y + 1) * tileSize * 3, with: refined[src ..< src + tileSize * 3])
                }
                tiles.append(normalize(tile))
            }
        }
        tiles.append(normalize(overview))
        return Output(gridX: p.gridX, gridY: p.gridY, tiles: tiles)
    }

    private func normalize(_ u8: [UInt8]) -> [Float] {
        var out = [Float](repeating: 0, count: u8.count)
        let m = mean, s = std
        for i in 0 ..< u8.count {
            let c = i % 3
            out[i] = (Float(u8[i]) / 255 - m[c]) / s[c]
        }
        return out
    }
}
