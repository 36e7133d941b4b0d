// libFuzzer target: the GGUF reader and everything that reads a model from it.
// Any input must end in a typed error or a file whose every value and tensor range can be read.
import FuzzSupport
import GGUF
import SmolVLM

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let file = attempt({ try GGUFFile(bytes: UnsafeBufferPointer(start: data, count: size)) }) else { return 0 }

    // Every metadata value, through every typed accessor: each answers or throws.
    let md = file.metadata
    for key in md.keys {
        guard let value = md[key] else { require(false, "listed key \(key) has no value"); continue }
        _ = value.typeName
        _ = value.integer
        if case let .array(array) = value {
            _ = array.count
            _ = array.elementTypeName
            _ = array.integers
            _ = array.floats
        }
        _ = attempt({ try md.integer(key) })
        _ = attempt({ try md.uint32(key) })
        _ = attempt({ try md.float(key) })
        _ = attempt({ try md.bool(key) })
        _ = attempt({ try md.string(key) })
        _ = attempt({ try md.strings(key) })
        _ = attempt({ try md.integers(key) })
        _ = attempt({ try md.floats(key) })
    }

    // Every tensor's range lies in the file; small tensors dequantize, first and last row.
    for tensor in file.tensors {
        let bytes = file.bytes(of: tensor)
        require(bytes.count == tensor.byteCount, "tensor \(tensor.name): view of \(bytes.count) bytes, table says \(tensor.byteCount)")
        require(file.tensor(named: tensor.name) != nil, "tensor \(tensor.name) not found by name")
        guard tensor.rowCount > 0, tensor.rowLength <= 1 << 16 else { continue }
        if let rows = attempt({ try file.dequantize(tensor, rows: 0 ..< 1) }) {
            require(rows.count == tensor.rowLength)
            _ = attempt({ try file.dequantize(tensor, rows: tensor.rowCount - 1 ..< tensor.rowCount) })
        }
        if tensor.elementCount <= 1 << 14 { _ = attempt({ try file.dequantize(tensor) }) }
    }

    // What a model load reads from it: the tokenizer, the decoder's and the encoder's
    // hyperparameters and weights.
    let tokenizer = attempt({ try Tokenizer(gguf: file) })
    _ = attempt({ try LlamaConfiguration(md, vocabularySize: tokenizer?.vocabularySize ?? 0) })
    _ = attempt({ try LlamaModel(file: file) })
    _ = attempt({ try VisionConfiguration(md) })
    _ = attempt({ try VisionModel(file: file) })
    return 0
}
