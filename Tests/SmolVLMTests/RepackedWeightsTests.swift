import Foundation
import GGUF
import ReferenceFixtures
import SmolVLM
import Testing

/// Repacking a Q8_0 matrix for the faster product must leave the source readable: the source's
/// pages are dropped only when they are a file mapping (read back from the file on the next
/// touch); a model parsed from bytes in memory keeps its bytes, or its embedding rows would read
/// back as zeros.
@Suite("repacked Q8_0 weights")
struct RepackedWeightsTests {
    static let tinyQ8 = ReferenceFixture.modelsDirectory.appendingPathComponent("tiny-text-q8_0.gguf").path

    @Test(.enabled(if: FileManager.default.fileExists(atPath: tinyQ8), "models/tiny-text-q8_0.gguf is absent: run models/build-test-models.sh"))
    func sourceBytesSurviveRepackingFromMemory() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Self.tinyQ8))
        for file in [try GGUFFile(bytes: original), try GGUFFile(path: Self.tinyQ8)] {
            let tensor = try #require(file.tensors.first { $0.type == .q8_0 && $0.rowCount % 16 == 0 })
            let w = try WeightMatrix(tensor, in: file).repackedForSpeed()
            let x = [Float](repeating: 0.5, count: 2 * w.columns)
            var y = [Float](repeating: 0, count: 2 * w.rows)
            var scratch = ScratchBuffer()
            MatMul.multiply(w, x, rows: 2, into: &y, scratch: &scratch, pool: ThreadPool(threads: 1), kernels: .default)
            let after = Data(file.bytes(of: tensor))
            let before = original[tensor.fileOffset ..< tensor.fileOffset + tensor.byteCount]
            // A count, not `after == before` in #expect, whose failure report diffs megabytes.
            let changed = zip(after, before).count { $0 != $1 }
            #expect(changed == 0, "\(tensor.name): \(changed) of \(before.count) bytes changed after repacking")
        }
    }
}
