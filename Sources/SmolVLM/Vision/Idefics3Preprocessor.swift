/// The image tiles SmolVLM's vision encoder sees, made the way llama.cpp's mtmd makes them for
/// the `idefics3` projector (`mtmd_image_preprocessor_idefics3`). Two branches, chosen as
/// llama.cpp chooses them:
///
/// **Longest edge** (the mmproj has `clip.vision.preproc_image_size` = L and no token limit is
/// set), every step Lanczos:
/// 1. resize (aspect kept) so the longer side is L and the shorter side is truncated, then
///    rounded up to even;
/// 2. resize (aspect not kept) up to whole tiles of `tileSize`;
/// 3. cut into tiles, row-major; the overview is that refined image resized to one tile.
///
/// **llava-uhd** (no `preproc_image_size`, or `imageMinTokens` / `imageMaxTokens` set):
/// 1. the refined size is each side rounded to the nearest multiple of `tileSize` (at least one
///    tile), or, with L, the image scaled to fit L and each side rounded up; then scaled down
///    (sides floored) to fit the pixel limit, or up (sides ceiled) to reach the pixel floor;
/// 2. the image is resized into it with bicubic, aspect kept, centred on black;
/// 3. cut into tiles, row-major; the overview is the *original* image resized (bicubic, aspect
///    not kept) to one tile.
///
/// Both branches then normalise each channel: (v/255 − mean) / std. Even a small image is sliced:
/// llama.cpp always emits at least one slice plus the overview (a 1×1 grid is two tiles).
///
/// ``maxTiles`` caps the slices for callers that need fewer image tokens (see its
/// documentation); left nil, the output is llama.cpp's, tile for tile.
public struct Idefics3Preprocessor: Sendable {
    /// Why a preprocessor could not be built or an image could not be preprocessed.
    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// `maxTiles` must be at least 1.
        case invalidMaxTiles(Int)
        /// A token limit (`imageMinTokens`, `imageMaxTokens`) must be in 1...1_048_576.
        case invalidTokenLimit(name: String, value: Int)
        /// Mean/std must have 3 finite values, std none zero.
        case invalidNormalization(reason: String)
        /// The image would need a resize to more than `limit` pixels on a side, which llama.cpp
        /// refuses too (`resize_pillow`); pass `maxTiles` to bound the slices.
        case imageTooLarge(width: Int, height: Int, limit: Int)

        public var description: String {
            switch self {
            case let .invalidMaxTiles(n): "maxTiles must be at least 1, got \(n)"
            case let .invalidTokenLimit(name, value): "\(name) must be in 1...\(maxTokenLimit), got \(value)"
            case let .invalidNormalization(reason): "invalid image normalisation: \(reason)"
            case let .imageTooLarge(w, h, limit):
                "a \(w)x\(h) image would be resized past \(limit) pixels on a side; set maxTiles to bound the slices"
            }
        }
    }

    /// llama.cpp's limit on any resize target side.
    public static let maxResizeSide = 65536
    static let maxTokenLimit = 1 << 20

    /// Side of a tile in pixels (`clip.vision.image_size`).
    public let tileSize: Int
    /// `clip.vision.preproc_image_size`; nil selects the llava-uhd branch.
    public let longestEdge: Int?
    /// Per-channel normalisation, R G B.
    public let mean: [Float]
    /// Per-channel standard deviation, R G B: a pixel in [0, 1] becomes `(x − mean) / std`.
    public let std: [Float]
    /// The caller's tile budget: at most this many slices (gridX · gridY), and an image that ends
    /// up as a single tile is not sliced at all but given as one global image, as Hugging Face's
    /// Idefics3 processor does when an image fits one tile. So `maxTiles: 1` makes every image
    /// one `tileSize` image (64 tokens for SmolVLM), for real-time use.
    ///
    /// - Longest-edge branch: the longest edge is reduced by whole tiles until the grid fits.
    /// - llava-uhd branch: the refined image is scaled down the way llama.cpp applies a pixel
    ///   limit (`maxTiles` tiles' worth of pixels, sides floored to whole tiles), then, for
    ///   extreme aspect ratios that still exceed the budget, the longer grid side is shortened.
    ///
    /// nil: no budget; the output is exactly llama.cpp's (a small image is a 1×1 grid + overview).
    public let maxTiles: Int?
    /// llama.cpp's `--image-min-tokens` / `--image-max-tokens` (`mtmd_context_params`), as pixel
    /// counts (`tokens × pixelsPerToken`); setting either selects the llava-uhd branch, as in
    /// llama.cpp. nil: unset.
    public let minPixels: Int?
    /// Upper bound of the pixel count (`image_max_tokens × pixelsPerToken`); nil: unset.
    public let maxPixels: Int?
    /// Pixels per image token: patch_size² · scale_factor² (llama.cpp's `patch_area`).
    public let pixelsPerToken: Int

    /// llama.cpp's defaults for SmolVLM (tile 512, longest edge 2048, mean = std = 0.5), or the
    /// given values; no tile budget or token limits.
    ///
    /// - Precondition: `tileSize` and `longestEdge` are positive, `mean` and `std` have 3 values.
    ///   For values that come from a file or a user, use ``init(_:maxTiles:imageMinTokens:imageMaxTokens:)``.
    public init(tileSize: Int = 512, longestEdge: Int? = 2048, mean: [Float] = [0.5, 0.5, 0.5], std: [Float] = [0.5, 0.5, 0.5]) {
        precondition(tileSize > 0 && tileSize <= Self.maxResizeSide && (longestEdge ?? 1) > 0 && (longestEdge ?? 1) <= Self.maxResizeSide,
                     "tile size and longest edge must be in 1...\(Self.maxResizeSide)")
        precondition(mean.count == 3 && std.count == 3, "mean and std need 3 values")
        self.tileSize = tileSize
        self.longestEdge = longestEdge
        self.mean = mean
        self.std = std
        maxTiles = nil
        minPixels = nil
        maxPixels = nil
        pixelsPerToken = 16 * 16 * 4 * 4
    }

    /// The preprocessor llama.cpp builds for this mmproj: tile size, longest edge (or none),
    /// normalisation and token size from the file, plus the caller's options.
    ///
    /// - Parameters:
    ///   - configuration: the mmproj's hyperparameters (tile size, longest edge, normalisation,
    ///     patch size and scale factor).
    ///   - maxTiles: the tile budget (see ``maxTiles``); nil for llama.cpp's output.
    ///   - imageMinTokens: llama.cpp's `--image-min-tokens`: a lower bound on the image's
    ///     tokens, which selects the llava-uhd branch; nil: unset.
    ///   - imageMaxTokens: llama.cpp's `--image-max-tokens`: an upper bound, likewise; nil: unset.
    /// - Throws: ``Error/invalidMaxTiles(_:)`` when `maxTiles < 1`,
    ///   ``Error/invalidTokenLimit(name:value:)``, ``Error/invalidNormalization(reason:)``.
    public init(_ configuration: VisionConfiguration, maxTiles: Int? = nil, imageMinTokens: Int? = nil, imageMaxTokens: Int? = nil) throws(Error) {
        try self.init(tileSize: configuration.imageSize, longestEdge: configuration.preprocessLongestEdge,
                      mean: configuration.imageMean, std: configuration.imageStd, maxTiles: maxTiles,
                      imageMinTokens: imageMinTokens, imageMaxTokens: imageMaxTokens,
                      pixelsPerToken: configuration.patchSize * configuration.patchSize * configuration.scaleFactor * configuration.scaleFactor)
    }

    /// Every parameter explicit, validated.
    ///
    /// - Throws: ``Error/invalidMaxTiles(_:)`` when `maxTiles < 1`,
    ///   ``Error/invalidTokenLimit(name:value:)`` for a token limit (or tile/edge/token size)
    ///   out of range, ``Error/invalidNormalization(reason:)``.
    public init(tileSize: Int = 512, longestEdge: Int? = 2048, mean: [Float] = [0.5, 0.5, 0.5], std: [Float] = [0.5, 0.5, 0.5],
                maxTiles: Int?, imageMinTokens: Int? = nil, imageMaxTokens: Int? = nil, pixelsPerToken: Int = 16 * 16 * 4 * 4) throws(Error) {
        func check(_ name: String, _ v: Int?, _ range: ClosedRange<Int>) throws(Error) {
            if let v, !range.contains(v) { throw .invalidTokenLimit(name: name, value: v) }
        }
        if let n = maxTiles, n < 1 { throw .invalidMaxTiles(n) }
        try check("tileSize", tileSize, 1 ... Self.maxResizeSide)
        try check("longestEdge", longestEdge, 1 ... Self.maxResizeSide)
        try check("pixelsPerToken", pixelsPerToken, 1 ... tileSize * tileSize)
        try check("imageMinTokens", imageMinTokens, 1 ... Self.maxTokenLimit)
        try check("imageMaxTokens", imageMaxTokens, 1 ... Self.maxTokenLimit)
        guard mean.count == 3, std.count == 3 else { throw .invalidNormalization(reason: "mean and std need 3 values, got \(mean.count) and \(std.count)") }
        guard (mean + std).allSatisfy(\.isFinite), !std.contains(0) else { throw .invalidNormalization(reason: "mean \(mean), std \(std)") }
        self.tileSize = tileSize
        self.longestEdge = longestEdge
        self.mean = mean
        self.std = std
        self.maxTiles = maxTiles
        self.pixelsPerToken = pixelsPerToken
        minPixels = imageMinTokens.map { $0 * pixelsPerToken }
        maxPixels = imageMaxTokens.map { $0 * pixelsPerToken }
    }

    /// Tiles in mtmd's chunk order: slices row by row, then the overview (global image) last.
    public struct Output: Sendable {
        /// Slices across and down; both 0 when the image is not sliced (only with ``maxTiles``).
        public var gridX: Int
        /// Slices down (rows of the grid); 0 when the image is not sliced.
        public var gridY: Int
        /// Each tile is `tileSize × tileSize × 3` floats, row-major, channels interleaved (HWC):
        /// `gridX · gridY` slices, then the global image.
        public var tiles: [[Float]]
    }

    /// Preprocesses a decoded image.
    ///
    /// - Throws: ``Error/imageTooLarge(width:height:limit:)`` when a resize would exceed
    ///   ``maxResizeSide`` pixels on a side (llama.cpp refuses those images too).
    public func callAsFunction(_ image: RGBImage) throws(Error) -> Output {
        try callAsFunction(image, pool: nil)
    }

    /// Preprocesses a decoded image, the resampling and normalisation split across `pool`'s
    /// threads (the output is the same bytes whatever the pool).
    ///
    /// - Throws: ``Error/imageTooLarge(width:height:limit:)`` as ``callAsFunction(_:)``.
    package func callAsFunction(_ image: RGBImage, pool: ThreadPool?) throws(Error) -> Output {
        let p = plan(width: image.width, height: image.height)
        guard p.largestResizeSide <= Self.maxResizeSide else {
            throw .imageTooLarge(width: image.width, height: image.height, limit: Self.maxResizeSide)
        }
        return run(p, pixels: image.pixels, width: image.width, height: image.height, pool: pool)
    }

    /// Preprocesses raw RGB pixels (`width × height × 3` bytes).
    ///
    /// - Precondition: the pixel count matches and the image is within ``maxResizeSide`` after
    ///   resizing; for caller data, use ``callAsFunction(_:)`` on an ``RGBImage``.
    public func callAsFunction(pixels: [UInt8], width: Int, height: Int) -> Output {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3, "pixels must be width × height × 3 bytes")
        let p = plan(width: width, height: height)
        precondition(p.largestResizeSide <= Self.maxResizeSide, "\(width)x\(height) would be resized past \(Self.maxResizeSide) pixels")
        return run(p, pixels: pixels, width: width, height: height, pool: nil)
    }

    private func run(_ p: Plan, pixels: [UInt8], width: Int, height: Int, pool: ThreadPool?) -> Output {
        let tile = tileSize
        let refined: [UInt8], overview: [UInt8]
        switch p.branch {
        case .longestEdge:
            let resized = PillowResize.resize(pixels, width: width, height: height, to: p.contentWidth, p.contentHeight,
                                              filter: .lanczos, pool: pool)
            refined = PillowResize.resize(resized, width: p.contentWidth, height: p.contentHeight, to: p.refinedWidth, p.refinedHeight,
                                          filter: .lanczos, pool: pool)
            overview = PillowResize.resize(refined, width: p.refinedWidth, height: p.refinedHeight, to: tile, tile,
                                           filter: .lanczos, pool: pool)
        case .llavaUHD:
            overview = PillowResize.resize(pixels, width: width, height: height, to: tile, tile, filter: .bicubic, pool: pool)
            refined = p.isSliced
                ? PillowResize.resizeCentred(pixels, width: width, height: height, content: p.contentWidth, p.contentHeight,
                                             canvas: p.refinedWidth, p.refinedHeight, filter: .bicubic)
                : []
        }

        // Slices row-major, then the overview; each read straight out of its source image.
        var sources: [(image: [UInt8], stride: Int, x: Int, y: Int)] = []
        for ty in 0 ..< p.gridY {
            for tx in 0 ..< p.gridX { sources.append((refined, p.refinedWidth, tx * tile, ty * tile)) }
        }
        sources.append((overview, tile, 0, 0))
        var tiles = [[Float]](repeating: [], count: sources.count)
        let table = normalizationTable()
        tiles.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            func fill(_ range: Range<Int>) {
                for t in range {
                    let src = sources[t]
                    base[t] = Self.normalize(src.image, stride: src.stride, x: src.x, y: src.y, size: tile, table: table)
                }
            }
            if let pool { pool.parallelFor(sources.count, fill) } else { fill(0 ..< sources.count) }
        }
        return Output(gridX: p.gridX, gridY: p.gridY, tiles: tiles)
    }

    /// clip_image_f32::from_u8 then normalize, (v/255 − mean)/std in f32, for each of the 256
    /// byte values of each channel: the same floats as computing it per pixel, without a
    /// division per pixel.
    private func normalizationTable() -> [Float] {
        (0 ..< 3).flatMap { c in (0 ..< 256).map { v in (Float(v) / 255 - mean[c]) / std[c] } }
    }

    /// The `size × size` square at (`x`, `y`) of an RGB image `stride` pixels wide, normalised.
    private static func normalize(_ image: [UInt8], stride: Int, x: Int, y: Int, size: Int, table: [Float]) -> [Float] {
        [Float](unsafeUninitializedCapacity: size * size * 3) { out, initialized in
            image.withUnsafeBufferPointer { src in
                table.withUnsafeBufferPointer { lut in
                    for row in 0 ..< size {
                        let s = ((y + row) * stride + x) * 3, d = row * size * 3
                        for i in 0 ..< size {
                            out[d + 3 * i] = lut[Int(src[s + 3 * i])]
                            out[d + 3 * i + 1] = lut[256 + Int(src[s + 3 * i + 1])]
                            out[d + 3 * i + 2] = lut[512 + Int(src[s + 3 * i + 2])]
                        }
                    }
                }
            }
            initialized = size * size * 3
        }
    }
}
