import GGUF
import Testing

/// One crafted file per error class: each must be refused with its typed error, never a trap.
@Suite("GGUF reader refuses hostile files")
struct GGUFHostileInputTests {
    private typealias T = GGUFBuilder.Tensor
    private static let q8Row = [UInt8](repeating: 0, count: 34)  // one Q8_0 block of zeros

    private func parse(_ bytes: [UInt8]) throws(GGUFError) -> GGUFFile { try GGUFFile(bytes: bytes) }

    @Test func minimalValidFileParses() throws {
        let bytes = GGUFBuilder.file(kvCount: 1, kv: { $0.kvString("general.architecture", "llama") },
                                     tensors: [T(name: "w", shape: [32, 1], type: 8, offset: 0)], data: Self.q8Row)
        let f = try parse(bytes)
        #expect(f.tensors.first?.byteCount == 34)
        #expect(try f.dequantize(f.tensors[0]) == [Float](repeating: 0, count: 32))
    }

    @Test func badMagic() {
        var bytes = GGUFBuilder.file()
        bytes[0] = UInt8(ascii: "X")
        #expect(throws: GGUFError.badMagic(found: Array("XGUF".utf8))) { try parse(bytes) }
        #expect(throws: GGUFError.badMagic(found: [])) { try parse([]) }
        let message = GGUFError.badMagic(found: Array("XGUF".utf8)).description
        #expect(message.contains("not a GGUF file"))
    }

    @Test func unsupportedVersion() {
        #expect(throws: GGUFError.unsupportedVersion(1)) { try parse(GGUFBuilder.file(version: 1)) }
        #expect(throws: GGUFError.unsupportedVersion(4)) { try parse(GGUFBuilder.file(version: 4)) }
        #expect(throws: Never.self) { try parse(GGUFBuilder.file(version: 2)) }
    }

    @Test func truncatedHeader() {
        let bytes = Array(GGUFBuilder.file().prefix(12))
        #expect { try parse(bytes) } throws: { e in
            guard case let .truncated(what, _, _, _) = e as? GGUFError else { return false }
            return what == "tensor count"
        }
    }

    @Test func truncatedMetadata() {
        let bytes = GGUFBuilder.file(kvCount: 1, kv: { $0.kvU32("llama.block_count", 30) }, alignment: 1)
        #expect { try parse(Array(bytes.dropLast(2))) } throws: { e in
            guard case let .truncated(what, _, _, _) = e as? GGUFError else { return false }
            return what.contains("llama.block_count")
        }
    }

    @Test func truncatedTensorTable() {
        let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: [32, 1], type: 8, offset: 0)], alignment: 1)
        #expect { try parse(Array(bytes.dropLast(4))) } throws: { e in
            guard case let .truncated(what, _, _, _) = e as? GGUFError else { return false }
            return what.contains("data offset of 'w'")
        }
    }

    @Test func stringLengthBeyondFile() {
        let bytes = GGUFBuilder.file(kvCount: 1, kv: { b in
            b.string("general.name"); b.u32(8); b.u64(1 << 40); b.raw(Array("short".utf8))
        })
        #expect { try parse(bytes) } throws: { e in
            guard case let .lengthBeyondFile(_, _, length, _) = e as? GGUFError else { return false }
            return length == 1 << 40
        }
    }

    @Test func arrayLengthBeyondFile() {
        let bytes = GGUFBuilder.file(kvCount: 1, kv: { b in
            b.string("tokenizer.ggml.tokens"); b.u32(9); b.u32(8); b.u64(UInt64.max)
        })
        #expect { try parse(bytes) } throws: { e in
            guard case .lengthBeyondFile = e as? GGUFError else { return false }
            return true
        }
        // An array of u64 whose count fits the byte count check for u8 but not for u64.
        let wide = GGUFBuilder.file(kvCount: 1, kv: { b in
            b.string("x"); b.u32(9); b.u32(10); b.u64(8); b.raw([UInt8](repeating: 1, count: 16))
        })
        #expect { try parse(wide) } throws: { e in
            guard case .truncated = e as? GGUFError else { return false }
            return true
        }
    }

    @Test func absurdCounts() {
        let kv = GGUFBuilder.file(kvCount: 1 << 60)
        #expect { try parse(kv) } throws: { e in
            guard case .lengthBeyondFile = e as? GGUFError else { return false }
            return true
        }
        let tensors = GGUFBuilder.file(tensorCount: 1 << 60)
        #expect { try parse(tensors) } throws: { e in
            guard case .lengthBeyondFile = e as? GGUFError else { return false }
            return true
        }
    }

    @Test func invalidUTF8() {
        let bytes = GGUFBuilder.file(kvCount: 1, kv: { b in
            b.string("general.name"); b.u32(8); b.u64(2); b.raw([0xC3, 0x28])
        })
        #expect { try parse(bytes) } throws: { e in
            guard case .invalidString = e as? GGUFError else { return false }
            return true
        }
    }

    @Test func unknownValueType() {
        let bytes = GGUFBuilder.file(kvCount: 1, kv: { b in b.string("k"); b.u32(13); b.u32(0) })
        #expect(throws: GGUFError.invalidValueType(key: "k", type: 13)) { try parse(bytes) }
        let inArray = GGUFBuilder.file(kvCount: 1, kv: { b in b.string("k"); b.u32(9); b.u32(99); b.u64(0) })
        #expect(throws: GGUFError.invalidValueType(key: "k", type: 99)) { try parse(inArray) }
    }

    @Test func nestingTooDeep() {
        let bytes = GGUFBuilder.file(kvCount: 1, kv: { b in
            b.string("deep"); b.u32(9)
            for _ in 0 ..< 64 { b.u32(9); b.u64(1) }  // array of array of array ...
            b.u32(4); b.u64(0)
        })
        #expect(throws: GGUFError.nestingTooDeep(key: "deep")) { try parse(bytes) }
    }

    @Test func duplicateKey() {
        let bytes = GGUFBuilder.file(kvCount: 2, kv: { b in b.kvU32("a", 1); b.kvU32("a", 2) })
        #expect(throws: GGUFError.duplicateKey("a")) { try parse(bytes) }
    }

    @Test func duplicateTensorName() {
        let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: [32, 1], type: 8, offset: 0),
                                               T(name: "w", shape: [32, 1], type: 8, offset: 64)],
                                     data: Self.q8Row + [UInt8](repeating: 0, count: 30) + Self.q8Row)
        #expect(throws: GGUFError.duplicateTensor("w")) { try parse(bytes) }
    }

    @Test func unknownTensorType() {
        for type: UInt32 in [4, 5, 31, 40, 1000] {
            let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: [32], type: type, offset: 0)], data: Self.q8Row)
            #expect(throws: GGUFError.unknownTensorType(tensor: "w", type: type)) { try parse(bytes) }
        }
    }

    @Test func shapeByteSizeOverflows() {
        let shape: [UInt64] = [1 << 32, 1 << 32]
        let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: shape, type: 0, offset: 0)])
        #expect(throws: GGUFError.sizeOverflow(tensor: "w", shape: shape)) { try parse(bytes) }
        let huge: [UInt64] = [UInt64.max]
        #expect(throws: GGUFError.sizeOverflow(tensor: "w", shape: huge)) {
            try parse(GGUFBuilder.file(tensors: [T(name: "w", shape: huge, type: 0, offset: 0)]))
        }
        // elements fit in Int but bytes (×4) do not
        let bytesOverflow: [UInt64] = [1 << 31, 1 << 31]
        #expect(throws: GGUFError.sizeOverflow(tensor: "w", shape: bytesOverflow)) {
            try parse(GGUFBuilder.file(tensors: [T(name: "w", shape: bytesOverflow, type: 0, offset: 0)]))
        }
    }

    @Test func invalidShapes() {
        for shape: [UInt64] in [[], [1, 1, 1, 1, 1], [32, 0], [31, 1]] {
            let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: shape, type: 8, offset: 0)], data: Self.q8Row)
            #expect(throws: (any Error).self) { try parse(bytes) }
            #expect { try parse(bytes) } throws: { e in
                switch e as? GGUFError {
                case .invalidShape(tensor: "w", shape: _, reason: _): return shape.count >= 1 && shape.count <= 4
                case let .invalidDimensionCount(tensor: "w", count): return Int(count) == shape.count
                default: return false
                }
            }
        }
    }

    @Test func tensorDataOutsideFile() {
        let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: [32, 2], type: 8, offset: 0)], data: Self.q8Row)
        #expect(throws: GGUFError.tensorOutOfBounds(tensor: "w", start: 0, byteCount: 68, dataSize: 34)) { try parse(bytes) }
        let far = GGUFBuilder.file(tensors: [T(name: "w", shape: [32], type: 8, offset: 1 << 62)], data: Self.q8Row)
        #expect { try parse(far) } throws: { e in
            guard case .tensorOutOfBounds = e as? GGUFError else { return false }
            return true
        }
        let wrapping = GGUFBuilder.file(tensors: [T(name: "w", shape: [32], type: 8, offset: UInt64.max - 31)], data: Self.q8Row)
        #expect { try parse(wrapping) } throws: { e in
            guard case .tensorOutOfBounds = e as? GGUFError else { return false }
            return true
        }
    }

    @Test func misalignedTensor() {
        let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: [32], type: 8, offset: 4)], data: Self.q8Row + [0, 0, 0, 0])
        #expect(throws: GGUFError.misalignedTensor(tensor: "w", offset: 4, alignment: 32)) { try parse(bytes) }
    }

    @Test func invalidAlignment() {
        let bytes = GGUFBuilder.file(kvCount: 1, kv: { $0.kvU32("general.alignment", 3) })
        #expect(throws: GGUFError.invalidAlignment("3")) { try parse(bytes) }
        let zero = GGUFBuilder.file(kvCount: 1, kv: { $0.kvU32("general.alignment", 0) })
        #expect(throws: GGUFError.invalidAlignment("0")) { try parse(zero) }
    }

    /// Found by fuzzing: a negative signed alignment trapped while the error was being built.
    @Test func negativeAlignmentIsATypedError() {
        let int8 = GGUFBuilder.file(kvCount: 1, kv: { $0.kvI8("general.alignment", -1) })
        #expect(throws: GGUFError.invalidAlignment("-1")) { try parse(int8) }
        let int32 = GGUFBuilder.file(kvCount: 1, kv: { $0.kvI32("general.alignment", -1) })
        #expect(throws: GGUFError.invalidAlignment("-1")) { try parse(int32) }
        let int64 = GGUFBuilder.file(kvCount: 1, kv: { $0.kvI64("general.alignment", -32) })
        #expect(throws: GGUFError.invalidAlignment("-32")) { try parse(int64) }
        // A string alignment is named as such, not as "= 0".
        let string = GGUFBuilder.file(kvCount: 1, kv: { $0.kvString("general.alignment", "32") })
        #expect(throws: GGUFError.invalidAlignment("\"32\" (a string)")) { try parse(string) }
        #expect(GGUFError.invalidAlignment("-1").description.contains("general.alignment = -1"))
    }

    /// Found by fuzzing: a 5-dimensional tensor's message printed its shape as "[]".
    @Test func tooManyDimensionsNamesTheCount() {
        let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: [32, 1, 1, 1, 1], type: 8, offset: 0)], data: Self.q8Row)
        #expect(throws: GGUFError.invalidDimensionCount(tensor: "w", count: 5)) { try parse(bytes) }
        #expect(GGUFError.invalidDimensionCount(tensor: "w", count: 5).description.contains("5 dimensions"))
    }

    /// Found by fuzzing: a tensor at offset 2^64 − 32 printed its byte range wrapped past zero.
    @Test func farOffsetMessageDoesNotWrap() {
        let offset = UInt64.max - 31
        let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: [32], type: 8, offset: offset)], data: Self.q8Row)
        #expect { try parse(bytes) } throws: { e in
            guard let e = e as? GGUFError, case .tensorOutOfBounds = e else { return false }
            return e.description.contains("offset \(offset), 34 bytes long") && !e.description.contains(", 0)")
        }
    }

    @Test func tensorSizeDisagreesWithLayout() {
        // 'a' claims two Q8_0 rows (68 bytes) but 'b' starts 64 bytes after it.
        let data = [UInt8](repeating: 0, count: 64 + 34)
        let bytes = GGUFBuilder.file(tensors: [T(name: "a", shape: [32, 2], type: 8, offset: 0),
                                               T(name: "b", shape: [32], type: 8, offset: 64)], data: data)
        #expect(throws: GGUFError.tensorSizeMismatch(tensor: "a", byteCount: 68, next: "b", gap: 64)) { try parse(bytes) }
    }

    @Test func missingFileIsATypedError() {
        #expect { try GGUFFile(path: "/nonexistent/model.gguf") } throws: { e in
            guard case let .cannotOpen(path, _) = e as? GGUFError else { return false }
            return path == "/nonexistent/model.gguf"
        }
        #expect { try GGUFFile(path: "/tmp") } throws: { e in
            guard case .cannotOpen = e as? GGUFError else { return false }
            return true
        }
    }

    @Test func unsupportedTypeCannotBeDequantized() throws {
        let bytes = GGUFBuilder.file(tensors: [T(name: "w", shape: [32], type: 20, offset: 0)],  // IQ4_NL
                                     data: [UInt8](repeating: 0, count: 18))
        let f = try parse(bytes)
        #expect(throws: GGUFError.unsupportedTensorType(tensor: "w", type: "IQ4_NL")) { try f.dequantize(f.tensors[0]) }
    }
}
