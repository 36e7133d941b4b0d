import ArgumentParser
import Foundation
import GGUF

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a GGUF file: architecture, hyper-parameters, tokenizer, tensors.",
        discussion: "With --tensor NAME --dump-f32 OUT, writes that tensor dequantized to little-endian f32 in ggml element order."
    )

    @Argument(help: "A GGUF file.") var file: String
    @Flag(help: "Print JSON instead of text.") var json = false
    @Option(help: "A tensor to dump (with --dump-f32).") var tensor: String?
    @Option(name: .customLong("dump-f32"), help: "Where to write the tensor as little-endian f32.") var dumpF32: String?

    func validate() throws {
        if (tensor == nil) != (dumpF32 == nil) { throw ValidationError("--tensor and --dump-f32 go together") }
    }

    func run() throws {
        let gguf = try GGUFFile(path: file)
        if let name = tensor, let out = dumpF32 {
            let info = try gguf.requireTensor(name)
            let values = try gguf.dequantize(info)
            let data = values.withUnsafeBytes { Data($0) }  // little-endian hosts only (x86-64, arm64)
            try data.write(to: URL(fileURLWithPath: out))
            print("wrote \(info.name) (\(info.type), shape \(info.shape)) as \(values.count) f32 values to \(out)")
            return
        }
        let summary = FileSummary(gguf, path: file)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            print(summary.text)
        }
    }
}

/// What `inspect` reports, as a value that prints as text or encodes as JSON.
struct FileSummary: Encodable {
    struct Tokenizer: Encodable {
        var model: String?
        var preTokenizer: String?
        var vocabSize: Int?
        var mergeCount: Int?
        var specialTokens: [String: SpecialToken]
        var addBOS: Bool?
        var addEOS: Bool?
        var chatTemplateLength: Int?
    }
    struct SpecialToken: Encodable { var id: Int; var text: String? }
    struct Tensor: Encodable { var name: String; var type: String; var shape: [Int]; var bytes: Int }
    struct TypeTotal: Encodable { var type: String; var tensors: Int; var bytes: Int; var parameters: Int }

    var path: String
    var fileSize: Int
    var version: UInt32
    var alignment: Int
    var architecture: String?
    var name: String?
    var hyperParameters: [String: String]
    var hyperParameterOrder: [String]
    var tokenizer: Tokenizer?
    var tensors: [Tensor]
    var totals: [TypeTotal]

    private enum CodingKeys: String, CodingKey {
        case path, fileSize, version, alignment, architecture, name, hyperParameters, tokenizer, tensors, totals
    }

    init(_ gguf: GGUFFile, path: String) {
        let md = gguf.metadata
        self.path = path
        fileSize = gguf.fileSize
        version = gguf.version
        alignment = gguf.alignment
        architecture = try? md.string("general.architecture")
        name = try? md.string("general.name")

        // Hyper-parameters: the architecture's own keys (`llama.*`, `clip.*`), in file order.
        let prefix = (architecture ?? "") + "."
        hyperParameterOrder = md.keys.filter { $0.hasPrefix(prefix) && !$0.hasPrefix("general.") }
        var hp: [String: String] = [:]
        for key in hyperParameterOrder { hp[key] = md[key].map(FileSummary.render) ?? "" }
        hyperParameters = hp

        if md.contains("tokenizer.ggml.model") {
            let tokens = try? md.strings("tokenizer.ggml.tokens")
            var special: [String: SpecialToken] = [:]
            for role in ["bos", "eos", "eot", "eom", "unknown", "padding", "sep", "cls", "mask"] {
                if let id = try? md.integer("tokenizer.ggml.\(role)_token_id") {
                    let text = tokens.flatMap { id >= 0 && id < $0.count ? $0[id] : nil }
                    special[role] = SpecialToken(id: id, text: text)
                }
            }
            tokenizer = Tokenizer(
                model: try? md.string("tokenizer.ggml.model"),
                preTokenizer: try? md.string("tokenizer.ggml.pre"),
                vocabSize: tokens?.count,
                mergeCount: (try? md.array("tokenizer.ggml.merges"))?.count,
                specialTokens: special,
                addBOS: try? md.bool("tokenizer.ggml.add_bos_token"),
                addEOS: try? md.bool("tokenizer.ggml.add_eos_token"),
                chatTemplateLength: (try? md.string("tokenizer.chat_template"))?.count)
        }

        tensors = gguf.tensors.map { Tensor(name: $0.name, type: $0.type.name, shape: $0.shape, bytes: $0.byteCount) }
        var byType: [String: TypeTotal] = [:]
        for t in gguf.tensors {
            var total = byType[t.type.name] ?? TypeTotal(type: t.type.name, tensors: 0, bytes: 0, parameters: 0)
            total.tensors += 1
            total.bytes += t.byteCount
            total.parameters += t.elementCount
            byType[t.type.name] = total
        }
        totals = byType.values.sorted { $0.bytes > $1.bytes }
    }

    static func render(_ v: GGUFValue) -> String {
        switch v {
        case let .string(s): return s.count > 80 ? "\"\(s.prefix(77))...\" (\(s.count) chars)" : "\"\(s)\""
        case let .array(a): return renderArray(a)
        case let .float32(x): return "\(x)"
        case let .float64(x): return "\(x)"
        case let .bool(b): return "\(b)"
        default: return v.integer.map(String.init) ?? v.typeName
        }
    }

    static func renderArray(_ a: GGUFArray) -> String {
        let shown: [String]
        switch a {
        case let .string(s): shown = s.prefix(8).map { "\"\($0)\"" }
        case let .float32(f): shown = f.prefix(8).map { "\($0)" }
        case let .float64(f): shown = f.prefix(8).map { "\($0)" }
        case let .bool(b): shown = b.prefix(8).map { "\($0)" }
        case let .array(n): shown = n.prefix(8).map(renderArray)
        default: shown = (a.integers ?? []).prefix(8).map(String.init)
        }
        return "[" + shown.joined(separator: ", ") + (a.count > 8 ? ", ... (\(a.count) \(a.elementTypeName))" : "") + "]"
    }

    var text: String {
        var out: [String] = []
        out.append("file:          \(path)")
        out.append("size:          \(fileSize) bytes (\(formatBytes(fileSize))), GGUF v\(version), alignment \(alignment)")
        out.append("architecture:  \(architecture ?? "?")" + (name.map { "  (\($0))" } ?? ""))
        if !hyperParameterOrder.isEmpty {
            out.append("")
            out.append("hyper-parameters:")
            let width = hyperParameterOrder.map(\.count).max() ?? 0
            for key in hyperParameterOrder {
                out.append("  " + key.padding(toLength: width, withPad: " ", startingAt: 0) + " = " + (hyperParameters[key] ?? ""))
            }
        }
        if let t = tokenizer {
            out.append("")
            out.append("tokenizer:")
            out.append("  model \(t.model ?? "?"), pre-tokenizer \(t.preTokenizer ?? "?"), vocab \(t.vocabSize.map(String.init) ?? "?"), merges \(t.mergeCount.map(String.init) ?? "-")")
            let specials = t.specialTokens.sorted { $0.value.id < $1.value.id }
                .map { "\($0.key) \($0.value.id)" + ($0.value.text.map { " \"\($0)\"" } ?? "") }
            out.append("  special: " + specials.joined(separator: ", "))
            out.append("  add BOS \(t.addBOS.map(String.init) ?? "-"), add EOS \(t.addEOS.map(String.init) ?? "-"), chat template " + (t.chatTemplateLength.map { "\($0) chars" } ?? "none"))
        }
        out.append("")
        out.append("tensors: \(tensors.count)")
        let nameWidth = max(4, tensors.map(\.name.count).max() ?? 0)
        out.append("  " + "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  type     shape                  bytes")
        for t in tensors {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            out.append("  " + t.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                       + t.type.padding(toLength: 7, withPad: " ", startingAt: 0) + "  "
                       + shape.padding(toLength: 20, withPad: " ", startingAt: 0) + " " + String(t.bytes).leftPad(12))
        }
        out.append("")
        out.append("totals per type:")
        for t in totals {
            out.append("  " + t.type.padding(toLength: 7, withPad: " ", startingAt: 0)
                       + String(t.tensors).leftPad(5) + " tensors " + String(t.parameters).leftPad(12) + " parameters "
                       + String(t.bytes).leftPad(12) + " bytes (\(formatBytes(t.bytes)))")
        }
        let params = totals.reduce(0) { $0 + $1.parameters }
        let bytes = totals.reduce(0) { $0 + $1.bytes }
        out.append("  all    " + String(tensors.count).leftPad(5) + " tensors " + String(params).leftPad(12) + " parameters "
                   + String(bytes).leftPad(12) + " bytes (\(formatBytes(bytes)))")
        return out.joined(separator: "\n")
    }
}

func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB"]
    var v = Double(n)
    var u = 0
    while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : String(format: "%.1f", v) + " " + units[u]
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
