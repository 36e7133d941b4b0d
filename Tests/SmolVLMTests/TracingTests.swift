import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

/// Tracing an image question on the tiny synthetic pair: the Chrome trace parses, shows both
/// threads and the model's matrix shapes, and the numbers are the same bits as untraced.
@Suite("tracing")
struct TracingTests {
    static let textPath = ReferenceFixture.modelsDirectory.appendingPathComponent("tiny-text-q8_0.gguf").path
    static let mmprojPath = ReferenceFixture.modelsDirectory.appendingPathComponent("tiny-mmproj-q8_0.gguf").path
    static var present: Bool { FileManager.default.fileExists(atPath: textPath) && FileManager.default.fileExists(atPath: mmprojPath) }
    static let image = ReferenceFixture.root.appendingPathComponent("images/chelsea-300x200.png").path

    struct Outputs {
        var embeddings: [Float]
        var logits: [[Float]]
    }

    /// One image question as `bench vision` runs it (one tile, a prompt around it, then greedy
    /// decode steps) on two threads, traced when `tracer` is given.
    static func question(_ text: LlamaModel, _ vision: VisionModel, tracer: Tracer?) throws -> Outputs {
        let context = try LlamaContext(model: text, contextLength: 256, threads: 2, tracer: tracer)
        let preprocessor = try Idefics3Preprocessor(vision.configuration, maxTiles: 1)
        let rgb = try ImageDecoder().decode(path: image)
        let e = try vision.embed(rgb, preprocessor: preprocessor, pool: context.pool)
        var logits = [try context.evaluate([.text([1, 2, 3]), .image(image: 0, tile: 0), .text([4, 5])], images: [e])]
        for _ in 0 ..< 3 {
            let last = logits[logits.count - 1]
            let token = last.indices.max { last[$0] < last[$1] } ?? 0
            logits.append(try context.evaluate(tokens: [token]))
        }
        return Outputs(embeddings: e.tiles.flatMap { $0 }, logits: logits)
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    @Test(.enabled(if: present, "tiny synthetic models are absent: run models/build-test-models.sh"))
    func tracedImageQuestion() throws {
        let text = try LlamaModel(path: Self.textPath)
        let vision = try VisionModel(path: Self.mmprojPath)
        let tracer = Tracer(threads: 2)
        let plain = try Self.question(text, vision, tracer: nil)
        let traced = try Self.question(text, vision, tracer: tracer)

        #expect(Self.bits(traced.embeddings) == Self.bits(plain.embeddings))
        #expect(traced.logits.count == plain.logits.count)
        for (t, p) in zip(traced.logits, plain.logits) { #expect(Self.bits(t) == Self.bits(p)) }

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("smolvlm-trace-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try tracer.write(to: path)
        let data = try #require(FileManager.default.contents(atPath: path))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(root["displayTimeUnit"] as? String == "ms")
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        let spans = events.filter { $0["ph"] as? String == "X" }
        #expect(!spans.isEmpty)
        #expect(Set(spans.compactMap { $0["tid"] as? Int }).count >= 2)
        for span in spans {
            let dur = try #require(span["dur"] as? Double)
            let ts = try #require(span["ts"] as? Double)
            #expect(dur >= 0 && ts >= 0, "\(span)")
            #expect(span["args"] is [String: Any])
        }
        let names = Set(spans.compactMap { $0["name"] as? String })

        // The products the two models are made of, at the batch sizes this question runs them.
        let v = vision.configuration
        let d = v.embeddingLength, ff = v.feedForwardLength, patches = v.patchCount
        let t = text.configuration
        let visionType = try #require(vision.file.tensor(named: "v.blk.0.attn_q.weight")).type.name.lowercased()
        let textType = try #require(text.file.tensor(named: "blk.0.ffn_up.weight")).type.name.lowercased()
        for expected in [
            "matmul \(visionType) \(d)×\(d) ·\(patches)",
            "matmul \(visionType) \(ff)×\(d) ·\(patches)",
            "matmul \(visionType) \(d)×\(ff) ·\(patches)",
            "matmul \(textType) \(t.feedForwardLength)×\(t.embeddingLength) ·\(v.tokensPerTile)",
            "matmul \(textType) \(t.feedForwardLength)×\(t.embeddingLength) ·1",
            "attention \(v.headCount)h×\(v.headDimension) ·\(patches)",
            "layernorm ·\(patches)×\(d)",
            "gelu ·\(patches)×\(ff)",
            "rmsnorm ·1×\(t.embeddingLength)",
            "preprocess", "encode tile",
        ] {
            #expect(names.contains(expected), "no span named \(expected)")
        }

        let summary = tracer.summary()
        #expect(!summary.rows.contains { $0.operation.isPhase })
        #expect(summary.operationSeconds > 0 && summary.operationSeconds <= summary.tracedSeconds)
        let products = summary.rows.filter { $0.operation.category == "matmul" }
        #expect(!products.isEmpty)
        for row in products {
            #expect(row.calls > 0 && row.operations > 0 && row.weightBytes > 0, "\(row.operation.name)")
            #expect(row.operation.shape.count == 3)
        }
        #expect(tracer.droppedSpans == 0)
    }

    @Test func workerChunksAreSpansOfTheirOwn() throws {
        let tracer = Tracer(threads: 2)
        let pool = ThreadPool(threads: 2, tracer: tracer)
        var sums = [Int](repeating: 0, count: 2)
        sums.withUnsafeMutableBufferPointer { s in
            pool.traced(TraceOperation(name: "sum", category: "test", shape: [64], operations: 64)) {
                pool.run { thread in s[thread] = (0 ..< 64).filter { $0 % 2 == thread }.reduce(0, +) }
            }
        }
        #expect(sums.reduce(0, +) == 63 * 64 / 2)
        let root = try #require(try JSONSerialization.jsonObject(with: tracer.chromeTraceJSON()) as? [String: Any])
        let spans = try #require(root["traceEvents"] as? [[String: Any]]).filter { $0["ph"] as? String == "X" }
        #expect(spans.count == 2)
        #expect(Set(spans.compactMap { $0["tid"] as? Int }) == [0, 1])
        #expect(spans.allSatisfy { $0["name"] as? String == "sum" && $0["cat"] as? String == "test" })
        let summary = tracer.summary()
        #expect(summary.rows.count == 1 && summary.rows[0].calls == 1 && summary.rows[0].operations == 64)
    }

    @Test func fullBuffersDropSpansWithoutFailing() throws {
        let tracer = Tracer(threads: 1, capacity: 3)
        let pool = ThreadPool(threads: 1, tracer: tracer)
        var total = 0
        for i in 0 ..< 5 { pool.traced(TraceOperation(name: "add \"\(i)\"\n", category: "test")) { total += i } }
        #expect(total == 10)
        #expect(tracer.droppedSpans == 2)
        let root = try #require(try JSONSerialization.jsonObject(with: tracer.chromeTraceJSON()) as? [String: Any])
        let names = try #require(root["traceEvents"] as? [[String: Any]]).filter { $0["ph"] as? String == "X" }.compactMap { $0["name"] as? String }
        #expect(names == ["add \"0\"\n", "add \"1\"\n", "add \"2\"\n"])
    }

    @Test func unwritableTraceFileIsATypedError() throws {
        let tracer = Tracer(threads: 1)
        let path = "/nonexistent-directory-\(UUID().uuidString)/trace.json"
        #expect {
            try tracer.write(to: path)
        } throws: { error in
            guard case let .cannotWrite(p, _)? = error as? TraceError else { return false }
            return p == path
        }
    }
}
