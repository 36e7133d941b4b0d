import ArgumentParser
import Foundation
import SmolVLM

/// Prompt processing and generation speed, measured the way llama-bench measures them:
/// `-p` random tokens in one batch on an empty context, then `-n` tokens decoded one at a time
/// on an empty context, each repeated `-r` times; mean ± standard deviation of tokens/s.
/// With `--trace`, one more run is traced on a context of its own, after the timed ones.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Prefill and decode tokens/s of a text model (llama-bench's pp/tg tests).",
        discussion: """
        --trace FILE runs once more after the timed tests (a prefill of -p random tokens, then the \
        first \(TraceReport.decodeSteps) decode steps after it) and writes a Chrome trace-event file of \
        it: one span per operation per thread, named by kernel and shape, with the operation count \
        and weight bytes in its args. Open it in https://ui.perfetto.dev or chrome://tracing. A \
        table of that run follows the normal output: per operation kind and shape, calls, total ms, \
        share of the time, GOP/s and GB/s of weights streamed. The timed tests are not traced.
        """
    )

    @Option(help: "A llama-architecture GGUF file.") var model: String
    @Option(name: .customShort("p"), help: "Prompt tokens (0 skips the prefill test).") var promptTokens: Int = 128
    @Option(name: .customShort("n"), help: "Generated tokens (0 skips the decode test).") var generatedTokens: Int = 64
    @Option(name: .customShort("r"), help: "Repetitions.") var repetitions: Int = 5
    @Option(name: [.customShort("t"), .long], help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: ArgumentHelp("Also trace one run into this Chrome trace-event (Perfetto) file and print a per-operation table.",
                               valueName: "file")) var trace: String?

    func validate() throws {
        if let trace { try TraceReport.checkWritable(trace) }
    }

    func run() throws {
        let llama = try LlamaModel(path: model)
        let vocab = llama.configuration.vocabularySize
        let context = try LlamaContext(model: llama, contextLength: max(promptTokens, generatedTokens) + 1, threads: threads)
        var rng = SplitMix64(seed: 1)
        let clock = ContinuousClock()
        func randomTokens(_ n: Int) -> [Int] { (0 ..< n).map { _ in Int.random(in: 0 ..< vocab, using: &rng) } }

        // Warm-up: touches every weight page once, as llama-bench's warm-up run does.
        _ = try context.evaluate(tokens: randomTokens(min(8, max(promptTokens, 1))))
        print("model: \(model), threads \(threads), kernels \(KernelSet.default.name)")
        if promptTokens > 0 {
            let rates = try (0 ..< repetitions).map { _ -> Double in
                context.reset()
                let tokens = randomTokens(promptTokens)
                let start = clock.now
                _ = try context.evaluate(tokens: tokens)
                return Double(promptTokens) / (clock.now - start).seconds
            }
            print(report("pp\(promptTokens)", rates))
        }
        if generatedTokens > 0 {
            let rates = try (0 ..< repetitions).map { _ -> Double in
                context.reset()
                var token = randomTokens(1)[0]
                let start = clock.now
                for _ in 0 ..< generatedTokens {
                    let logits = try context.evaluate(tokens: [token])
                    token = logits.indices.max { logits[$0] < logits[$1] } ?? 0
                }
                return Double(generatedTokens) / (clock.now - start).seconds
            }
            print(report("tg\(generatedTokens)", rates))
        }

        if let trace {
            let steps = min(generatedTokens, TraceReport.decodeSteps)
            let tracer = Tracer(threads: threads)
            let traced = try LlamaContext(model: llama, contextLength: promptTokens + steps + 1, threads: threads, tracer: tracer)
            let pool = traced.pool
            var token = randomTokens(1)[0]
            if promptTokens > 0 {
                let logits = try pool.traced(.phase("prefill")) { try traced.evaluate(tokens: randomTokens(promptTokens)) }
                token = logits.indices.max { logits[$0] < logits[$1] } ?? 0
            }
            for _ in 0 ..< steps {
                let logits = try pool.traced(.phase("decode token")) { try traced.evaluate(tokens: [token]) }
                token = logits.indices.max { logits[$0] < logits[$1] } ?? 0
            }
            try TraceReport.finish(tracer, path: trace, run: "a prefill of \(promptTokens) tokens and \(steps) decode steps")
        }
    }

    private func report(_ test: String, _ rates: [Double]) -> String {
        let mean = rates.reduce(0, +) / Double(rates.count)
        let sd = (rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(rates.count - 1, 1))).squareRoot()
        return "\(test.padding(toLength: 8, withPad: " ", startingAt: 0)) \(String(format: "%10.2f ± %.2f", mean, sd)) tokens/s"
    }
}
