import ArgumentParser
import Foundation
import GGUF
import KernelBench
import Kernels
import SmolVLM

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the engine.",
        subcommands: [BenchKernels.self, BenchModel.self, BenchVision.self]
    )
}

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Matrix·vector and matrix·matrix throughput per weight type at SmolVLM shapes, SIMD next to scalar.",
        discussion: """
        GB/s counts weight bytes streamed (decode is bound by it); GOP/s counts a multiply-add as two \
        operations. Each figure is the best of repeated runs. The ratio column is the SIMD figure over \
        the scalar reference's. Products go through the engine's path (Q8_0 weights repacked as models \
        repack them at load).

        The peak lines time register-only loops of the instructions the kernels are bound by (int8 \
        multiply-adds, f32 FMA, bf16 dot products) on every thread at once, in the same run; the \
        "peak" column is each product's GOP/s as a share of its type's loop (int8 for quantized \
        weights, f32 FMA for F32/F16/BF16). For Q8_0 the "ordered" share compares with the loop of \
        the instruction mix llama.cpp's summation order costs (one integer dot, one conversion and \
        one FMA per 4 products a lane), the ceiling of any product that keeps that order.
        """
    )

    @Option(help: "Threads (the caller included).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Comma-separated weight types (default: every computable type).") var types: String?
    @Option(help: "Instruction sets to time besides scalar: best, or all.") var isa: String = "best"
    @Option(help: "Minimum seconds measured per figure.") var seconds: Double = 0.25
    @Flag(help: "Skip the matrix·matrix shapes (the scalar path is slow there).") var noMatmat = false

    func run() throws {
        let order: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]
        let selected: [GGMLType] = try types.map { list in
            try list.split(separator: ",").map { name in
                guard let t = GGMLType(name: String(name)), t.isComputable else {
                    throw ValidationError("unknown or unsupported type '\(name)'")
                }
                return t
            }
        } ?? order
        guard let scalar = KernelSet(isa: SV_ISA_SCALAR) else { throw ValidationError("no scalar kernels") }
        let simd: [KernelSet]
        switch isa {
        case "best": simd = [KernelSet.default].filter { $0.isa != SV_ISA_SCALAR }
        case "all": simd = KernelSet.supported.filter { $0.isa != SV_ISA_SCALAR }
        default: throw ValidationError("--isa takes best or all")
        }
        let shapes = KernelBench.smolVLMShapes.filter { !noMatmat || $0.batch == 1 }
        let bench = KernelBench(threads: threads, minimumSeconds: seconds)

        print("smolvlm bench kernels: \(threads) thread(s); ISAs on this CPU: "
              + KernelSet.supported.map(\.name).joined(separator: ", ") + "; engine default: \(KernelSet.default.name)")
        // The machine's limits, per SIMD table, measured now so they share the kernels' conditions.
        var peaks: [[sv_peak: Double]] = []
        for k in simd {
            var found: [sv_peak: Double] = [:]
            for kind in [SV_PEAK_INT8, SV_PEAK_F32, SV_PEAK_BF16, SV_PEAK_Q8_0_ORDERED] {
                guard let rate = bench.peak(kind, kernels: k), let name = KernelBench.peakInstruction(kind, k) else { continue }
                found[kind] = rate
                print("peak \(k.name): \(Self.peakLabel(kind)) (\(name)) \(fmt(rate)) GOP/s on \(threads) thread(s)")
            }
            peaks.append(found)
        }
        var header = "type  shape              " + "scalar GB/s  GOP/s".leftPad(19)
        for k in simd { header += "  " + "\(k.name) GB/s  GOP/s".leftPad(22) + "  ratio   peak" }
        print(header)
        for type in selected {
            for shape in shapes {
                guard type.byteCount(elements: shape.columns) != nil else {
                    // ggml's quantizer stores such tensors in a 32-block type instead (Q4_K → Q5_0, …).
                    print(type.name.padding(toLength: 6, withPad: " ", startingAt: 0)
                          + shape.description.padding(toLength: 19, withPad: " ", startingAt: 0)
                          + "n/a: rows of \(shape.columns) are not whole \(type.blockElements)-element blocks")
                    continue
                }
                let s = bench.measure(type: type, shape: shape, kernels: scalar)
                var line = type.name.padding(toLength: 6, withPad: " ", startingAt: 0)
                    + shape.description.padding(toLength: 19, withPad: " ", startingAt: 0)
                    + fmt(s.gigabytesPerSecond).leftPad(11) + fmt(s.gigaOpsPerSecond).leftPad(8)
                for (k, peak) in zip(simd, peaks) {
                    let r = bench.measure(type: type, shape: shape, kernels: k)
                    line += fmt(r.gigabytesPerSecond).leftPad(16) + fmt(r.gigaOpsPerSecond).leftPad(8)
                        + (String(format: "%.1f", s.seconds / r.seconds) + "x").leftPad(7)
                    let bound = [.f32, .f16, .bf16].contains(type) ? SV_PEAK_F32 : SV_PEAK_INT8
                    line += (peak[bound].map { String(format: "%.0f%%", 100 * r.gigaOpsPerSecond / $0) } ?? "-").leftPad(7)
                    if type == .q8_0, k.table.pointee.gemm_q8_0_r16 != nil, let ordered = peak[SV_PEAK_Q8_0_ORDERED] {
                        line += String(format: " (%.0f%% of ordered)", 100 * r.gigaOpsPerSecond / ordered)
                    }
                }
                print(line + "   " + shape.label)
                fflush(nil)  // flush every stream: rows appear as they are measured
            }
        }
    }

    private static func peakLabel(_ kind: sv_peak) -> String {
        switch kind {
        case SV_PEAK_INT8: "int8 multiply-add"
        case SV_PEAK_F32: "f32 FMA"
        case SV_PEAK_BF16: "bf16 dot"
        case SV_PEAK_Q8_0_ORDERED: "Q8_0 in llama.cpp's order"
        default: "loop \(kind.rawValue)"
        }
    }

    private func fmt(_ v: Double) -> String {
        v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
    }
}
