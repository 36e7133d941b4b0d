import Foundation
import GGUF
import Kernels
import Testing

private let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

struct Manifest: Decodable {
    struct Tensor: Decodable { var name: String; var type: String; var shape: [Int]; var expected: String }
    var file: String
    var tensors: [Tensor]
}

@Suite("GGUF reader on files written by the gguf Python package")
struct GGUFFixtureTests {
    let file: GGUFFile
    let manifest: Manifest

    init() throws {
        let dir = fixtures.appendingPathComponent("quant")
        manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        file = try GGUFFile(path: dir.appendingPathComponent(manifest.file).path)
    }

    @Test func metadataOfEveryValueType() throws {
        let md = file.metadata
        #expect(file.version == 3)
        #expect(try md.string("general.architecture") == "fixture")
        #expect(md["fixture.u8"] == .uint8(200))
        #expect(md["fixture.i8"] == .int8(-100))
        #expect(md["fixture.u16"] == .uint16(60000))
        #expect(md["fixture.i16"] == .int16(-30000))
        #expect(md["fixture.u32"] == .uint32(4_000_000_000))
        #expect(md["fixture.i32"] == .int32(-2_000_000_000))
        #expect(md["fixture.u64"] == .uint64(18_000_000_000_000_000_000))
        #expect(md["fixture.i64"] == .int64(-9_000_000_000_000_000_000))
        #expect(md["fixture.f32"] == .float32(0.15625))
        #expect(md["fixture.f64"] == .float64(2.718281828459045))
        #expect(md["fixture.bool"] == .bool(true))
        #expect(try md.string("fixture.string") == "héllo, 世界 🙂")
        #expect(try md.strings("fixture.strings") == ["<|im_start|>", "", "Ġthe", "日本"])
        #expect(try md.integers("fixture.ints") == [1, -2, 3])
        #expect(try md.floats("fixture.floats") == [0.5, -1.25])
        #expect(try md.array("fixture.nested") == .array([.int32([1, 2]), .int32([3])]))
        // Typed accessors say what they found.
        #expect(throws: GGUFError.typeMismatch(key: "fixture.string", expected: "uint32", found: "string")) {
            try md.uint32("fixture.string")
        }
        #expect(throws: GGUFError.missingKey("no.such.key")) { try md.string("no.such.key") }
    }

    @Test func dequantizationIsBitIdenticalToGGUFPy() throws {
        let dir = fixtures.appendingPathComponent("quant")
        #expect(manifest.tensors.count == 11)
        for t in manifest.tensors {
            let info = try #require(file.tensor(named: t.name))
            #expect(info.type.name == t.type)
            #expect(info.shape == t.shape)
            let got = try file.dequantize(info)
            let expected = try Data(contentsOf: dir.appendingPathComponent(t.expected))
            let want = expected.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
            let gotBits = got.map(\.bitPattern)
            let firstDiff = zip(gotBits, want).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(gotBits.count == want.count, "\(t.name): element count")
            #expect(firstDiff == nil, "\(t.name) (\(t.type)) differs at element \(firstDiff?.offset ?? -1): \(Float(bitPattern: firstDiff?.element.0 ?? 0)) vs \(Float(bitPattern: firstDiff?.element.1 ?? 0))")
        }
    }

    @Test func tensorDataIsAViewIntoTheMapping() throws {
        let info = try #require(file.tensor(named: "fixture.q4_k"))
        let view = file.bytes(of: info)
        let base = try #require(file.storage.bytes.baseAddress)
        #expect(view.baseAddress == base + info.fileOffset)
        #expect(view.count == info.byteCount)
        #expect(info.byteCount == 2 * 3 * 144)
        #expect(info.fileOffset % file.alignment == 0)
    }

    @Test func everyTruncationIsATypedError() throws {
        let dir = fixtures.appendingPathComponent("quant")
        let bytes = try [UInt8](Data(contentsOf: dir.appendingPathComponent(manifest.file)))
        let lastTensorEnd = file.tensors.map { $0.fileOffset + $0.byteCount }.max()!
        for cut in stride(from: 0, to: lastTensorEnd, by: 1) {
            #expect(throws: GGUFError.self, "cut at \(cut)") { try GGUFFile(bytes: bytes[0 ..< cut]) }
        }
    }

    @Test func randomCorruptionNeverTraps() throws {
        let dir = fixtures.appendingPathComponent("quant")
        let original = try [UInt8](Data(contentsOf: dir.appendingPathComponent(manifest.file)))
        let headerEnd = file.dataOffset
        var rng = SystemRandomNumberGenerator()
        var parsed = 0, refused = 0
        for _ in 0 ..< 3000 {
            var bytes = original
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
                let at = Int.random(in: 0 ..< headerEnd, using: &rng)
                bytes[at] = UInt8.random(in: 0 ... 255, using: &rng)
            }
            if let f = try? GGUFFile(bytes: bytes) {
                parsed += 1
                for t in f.tensors where t.type.isComputable { _ = try? f.dequantize(t) }
            } else {
                refused += 1
            }
        }
        #expect(parsed + refused == 3000)
    }
}

@Suite("GGUF reader on the real SmolLM2-135M-Instruct Q4_1 file")
struct SmolLM2FileTests {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../models/SmolLM2-135M-Instruct.Q4_1.gguf").standardized.path
    static let present = FileManager.default.fileExists(atPath: path)

    struct Expected: Decodable {
        struct Tensor: Decodable {
            var name: String; var type: String; var shape: [Int]
            var count: Int; var sum: String; var weighted_sum: String; var first: [Float]
        }
        var tensors: [Tensor]
    }

    @Test(.enabled(if: present, "models/SmolLM2-135M-Instruct.Q4_1.gguf is absent: run models/fetch-smollm2.sh"))
    func structure() throws {
        let f = try GGUFFile(path: Self.path)
        #expect(f.tensors.count == 272)
        let counts = Dictionary(grouping: f.tensors, by: \.type.name).mapValues(\.count)
        #expect(counts == ["Q4_1": 210, "F32": 61, "Q8_0": 1])
        #expect(try f.metadata.integer("llama.block_count") == 30)
        #expect(try f.metadata.strings("tokenizer.ggml.tokens").count == 49152)
        #expect(try f.metadata.string("tokenizer.ggml.pre") == "smollm")
    }

    @Test(.enabled(if: present, "models/SmolLM2-135M-Instruct.Q4_1.gguf is absent: run models/fetch-smollm2.sh"))
    func dequantizationMatchesGGUFPyChecksums() throws {
        let f = try GGUFFile(path: Self.path)
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtures.appendingPathComponent("smollm2-dequant.json")))
        #expect(expected.tensors.count == 2)
        for e in expected.tensors {
            let info = try #require(f.tensor(named: e.name))
            #expect(info.type.name == e.type && info.shape == e.shape)
            let values = try f.dequantize(info)
            #expect(values.count == e.count)
            var s1: UInt64 = 0, s2: UInt64 = 0
            for (i, v) in values.enumerated() {
                let u = UInt64(v.bitPattern)
                s1 &+= u
                s2 &+= u &* UInt64(i + 1)
            }
            #expect(String(s1) == e.sum, "\(e.name): checksum")
            #expect(String(s2) == e.weighted_sum, "\(e.name): order-sensitive checksum")
            #expect(Array(values.prefix(e.first.count)) == e.first)
        }
    }
}
