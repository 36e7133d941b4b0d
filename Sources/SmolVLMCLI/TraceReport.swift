import ArgumentParser
import Foundation
import SmolVLM

/// What `bench vision --trace` and `bench model --trace` print after their normal output: where
/// the traced run's time went, one row per operation kind and shape.
enum TraceReport {
    /// Decode steps in a traced run: enough to see a steady step, few enough to read the trace.
    static let decodeSteps = 4

    /// Fails before any run when the trace file's directory cannot be written to (the traced run
    /// comes last, after minutes of timed runs).
    static func checkWritable(_ path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        guard FileManager.default.isWritableFile(atPath: directory.isEmpty ? "." : directory) else {
            throw ValidationError("--trace: cannot write to the directory of \(path)")
        }
    }

    /// Writes the trace to `path`, then prints what was traced and the per-operation table.
    ///
    /// - Parameters:
    ///   - tracer: the traced run's tracer (its pool idle).
    ///   - path: the Chrome trace-event file to write.
    ///   - run: what the traced run did, for the table's heading.
    ///   - peakGigaOpsPerSecond: see ``table(_:peakGigaOpsPerSecond:)``.
    /// - Throws: `TraceError.cannotWrite` when the file cannot be written.
    static func finish(_ tracer: Tracer, path: String, run: String,
                       peakGigaOpsPerSecond: ((TraceOperation) -> Double?)? = nil) throws(TraceError) {
        try tracer.write(to: path)
        let summary = tracer.summary()
        print("\ntrace of \(run): \(path) (open in https://ui.perfetto.dev or chrome://tracing)")
        if tracer.droppedSpans > 0 {
            print("note: \(tracer.droppedSpans) spans did not fit the tracer's buffers and are missing")
        }
        print(table(summary, peakGigaOpsPerSecond: peakGigaOpsPerSecond), terminator: "")
    }

    /// One row per operation kind and shape, most time first: calls, total wall time, share of
    /// the operations' time, GOP/s (a multiply-add counts as two) and GB/s of weights streamed.
    ///
    /// - Parameters:
    ///   - summary: the traced run's summary.
    ///   - peakGigaOpsPerSecond: the best GOP/s the machine reaches for an operation (e.g. what
    ///     `bench kernels` measures at its type and shape), or nil when unknown. When given, a
    ///     "% of peak" column is added.
    /// - Returns: the table, one line per row, each ending in a newline.
    static func table(_ summary: TraceSummary, peakGigaOpsPerSecond: ((TraceOperation) -> Double?)? = nil) -> String {
        let total = summary.operationSeconds
        let nameWidth = max(30, summary.rows.map(\.operation.name.count).max() ?? 0)
        var header = "operation".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            + "calls".leftPad(7) + "total ms".leftPad(11) + "share".leftPad(8) + "GOP/s".leftPad(9) + "GB/s".leftPad(8)
        if peakGigaOpsPerSecond != nil { header += "% of peak".leftPad(11) }
        var out = header + "\n"
        for row in summary.rows {
            var line = row.operation.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                + String(row.calls).leftPad(7)
                + String(format: "%.2f", row.seconds * 1000).leftPad(11)
                + String(format: "%.1f%%", total > 0 ? 100 * row.seconds / total : 0).leftPad(8)
                + (row.gigaOpsPerSecond.map(figure) ?? "-").leftPad(9)
                + (row.gigabytesPerSecond.map(figure) ?? "-").leftPad(8)
            if let peakGigaOpsPerSecond {
                let share = row.gigaOpsPerSecond.flatMap { achieved in
                    peakGigaOpsPerSecond(row.operation).flatMap { $0 > 0 ? String(format: "%.0f%%", 100 * achieved / $0) : nil }
                }
                line += (share ?? "-").leftPad(11)
            }
            out += line + "\n"
        }
        out += "operations".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            + String(summary.rows.reduce(0) { $0 + $1.calls }).leftPad(7)
            + String(format: "%.2f", total * 1000).leftPad(11)
            + String(format: "  of %.2f ms traced (the rest: work between spans)", summary.tracedSeconds * 1000) + "\n"
        return out
    }

    private static func figure(_ v: Double) -> String {
        v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
    }
}
