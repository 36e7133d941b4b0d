import Foundation
import Kernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What one traced span did: its name (kernel and shape, e.g. `matmul q8_0 768×768 ·1024`), a
/// category, and the work it stands for.
///
/// Spans with the same ``name`` are one row of a ``TraceSummary``. A span of category
/// ``phaseCategory`` only groups others (`prefill`, `encode tile`) and is left out of the summary.
public struct TraceOperation: Sendable, Hashable {
    /// The category of spans that only group other spans.
    public static let phaseCategory = "phase"

    /// Kernel and shape, as shown in the trace viewer and the summary table.
    public var name: String
    /// The kind of work: `matmul`, `attention`, `convert`, `elementwise`, ``phaseCategory``, ….
    public var category: String
    /// The weight type a matrix product streams (`q8_0`, `f16`, …), or the type activations are
    /// converted to; nil for other operations.
    public var weightType: String?
    /// The dimensions the name shows, outermost first: `[rows, columns, batch]` for a matrix
    /// product (the shape `smolvlm bench kernels` measures), `[heads, head dimension, rows, key
    /// positions summed over rows]` for attention, `[rows, width]` for row-wise work.
    public var shape: [Int]
    /// Arithmetic operations, a multiply-add counted as two; 0 where no such count is meaningful.
    public var operations: Double
    /// Bytes of weights read from memory (0 for operations without weights).
    public var weightBytes: Double

    /// Describes a span.
    /// - Parameters:
    ///   - name: kernel and shape; spans with equal names are summed in a ``TraceSummary``.
    ///   - category: the kind of work (``phaseCategory`` for a span that only groups others).
    ///   - weightType: the weight or target type, if any.
    ///   - shape: the dimensions the name shows.
    ///   - operations: arithmetic operations, a multiply-add counted as two.
    ///   - weightBytes: bytes of weights streamed.
    public init(name: String, category: String, weightType: String? = nil, shape: [Int] = [],
                operations: Double = 0, weightBytes: Double = 0) {
        self.name = name
        self.category = category
        self.weightType = weightType
        self.shape = shape
        self.operations = operations
        self.weightBytes = weightBytes
    }

    /// A span that groups the operations inside it (`decode image`, `prefill`, …).
    public static func phase(_ name: String) -> TraceOperation {
        TraceOperation(name: name, category: phaseCategory)
    }

    /// Whether the span only groups others.
    public var isPhase: Bool { category == Self.phaseCategory }
}

extension TraceOperation {
    /// `y = W·x` for `batch` activation rows: `rows × columns` multiply-adds per row, every
    /// weight byte read once.
    static func matmul(_ w: WeightMatrix, batch: Int) -> TraceOperation {
        let type = String(cString: sv_type_name(w.kernelType))
        return TraceOperation(name: "matmul \(type) \(w.rows)×\(w.columns) ·\(batch)", category: "matmul",
                              weightType: type, shape: [w.rows, w.columns, batch],
                              operations: 2 * Double(w.rows) * Double(w.columns) * Double(batch),
                              weightBytes: Double(w.rowStride * w.rows))
    }

    /// Activation rows converted to a matrix product's partner type (Q8_0, F16, …).
    static func convert(to type: String, rows: Int, columns: Int) -> TraceOperation {
        let verb = type.hasPrefix("q") ? "quantize" : "convert"
        return TraceOperation(name: "\(verb) \(type) ·\(rows)×\(columns)", category: "convert",
                              weightType: type, shape: [rows, columns])
    }

    /// Softmax attention of `rows` query rows over `keys` key positions in all (summed over the
    /// rows): Q·Kᵀ and P·V are each `headDimension` multiply-adds per head and key.
    static func attention(_ label: String, heads: Int, headDimension: Int, rows: Int, keys: Int) -> TraceOperation {
        TraceOperation(name: "\(label) \(heads)h×\(headDimension) ·\(rows)", category: "attention",
                       shape: [heads, headDimension, rows, keys],
                       operations: 4 * Double(heads) * Double(headDimension) * Double(keys))
    }

    /// Work done row by row on `rows` rows of `width` values (norms, biases, activations, copies).
    static func rows(_ label: String, _ rows: Int, _ width: Int) -> TraceOperation {
        TraceOperation(name: "\(label) ·\(rows)×\(width)", category: "elementwise", shape: [rows, width])
    }
}

/// Why a trace could not be saved.
public enum TraceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The trace file at `path` could not be written (`reason` is the system's message).
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotWrite(path, reason): "cannot write the trace file \(path): \(reason)"
        }
    }
}

/// Records where the time goes: one span per operation on the thread that submits work (lane 0)
/// and one per operation on every pool worker that ran a chunk of it (lanes 1 …), written as a
/// Chrome trace-event file that Perfetto and chrome://tracing open.
///
/// Hand a tracer to a ``LlamaContext`` (its thread pool records); code that
/// runs on the pool then records its spans. Without a tracer each instrumentation point costs one
/// nil check. Workers write to their own preallocated lane, so recording takes no lock on them;
/// spans are opened and closed by one submitting thread at a time (the pool's caller), and the
/// caller's bookkeeping is behind an uncontended lock. A lane that fills up drops further spans
/// (counted in ``droppedSpans``); the computation is never affected.
public final class Tracer: @unchecked Sendable {
    /// Lanes: the submitting thread (0) and the pool workers (1 ..< threadCount).
    public let threadCount: Int
    /// Spans each lane holds before it drops spans.
    public let capacity: Int

    struct Event {
        var invocation: Int32
        var start: UInt64
        var end: UInt64
    }

    /// Bookkeeping of the submitting thread: every span's description, the spans still open.
    struct CallerState {
        var invocations: [TraceOperation] = []
        /// Invocations of the spans still open, innermost last.
        var open: [Int32] = []
    }

    /// Monotonic nanoseconds at the tracer's creation; trace times are relative to it.
    private let origin: UInt64
    /// `threadCount × capacity` spans, lane after lane.
    private let events: UnsafeMutablePointer<Event>
    /// Per lane, a cache line of its own: [0] spans recorded, [1] spans dropped.
    private let counters: UnsafeMutablePointer<Int>
    private static let counterStride = 8
    private let caller = Mutex(CallerState())

    /// A tracer for a pool of `threads` threads, holding `capacity` spans per thread.
    /// - Parameters:
    ///   - threads: the pool's thread count, its caller included; spans of workers beyond it
    ///     are not recorded.
    ///   - capacity: spans kept per thread (a SmolVLM-256M image question of 13 tiles puts about
    ///     25 000 on the caller's lane).
    public init(threads: Int, capacity: Int = 1 << 16) {
        threadCount = max(1, threads)
        self.capacity = max(1, capacity)
        events = .allocate(capacity: threadCount * self.capacity)
        counters = .allocate(capacity: threadCount * Self.counterStride)
        counters.initialize(repeating: 0, count: threadCount * Self.counterStride)
        origin = Self.now()
    }

    deinit {
        events.deallocate()
        counters.deallocate()
    }

    /// Monotonic nanoseconds.
    @inline(__always) static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Runs `body` inside a span on lane 0; pool jobs started inside it record their workers'
    /// spans under the same operation.
    /// - Parameters:
    ///   - operation: what the span measures.
    ///   - body: the work.
    /// - Returns: what `body` returns.
    public func span<R, E: Error>(_ operation: TraceOperation, _ body: () throws(E) -> R) throws(E) -> R {
        let (invocation, start) = caller.withLock { state in
            state.invocations.append(operation)
            let invocation = Int32(truncatingIfNeeded: state.invocations.count - 1)
            let start = Self.now()
            state.open.append(invocation)
            return (invocation, start)
        }
        defer {
            let end = Self.now()
            caller.withLock { state in
                if let i = state.open.lastIndex(of: invocation) { state.open.remove(at: i) }
                record(lane: 0, invocation: invocation, start: start, end: end)
            }
        }
        return try body()
    }

    /// The innermost open span, which a pool job started now belongs to.
    var currentInvocation: Int32? {
        caller.withLock { $0.open.last }
    }

    /// Adds a span to `lane`, or widens the lane's last span when it belongs to the same
    /// invocation, so a worker that runs several chunks of one operation shows one span.
    /// Only the lane's own thread calls this (lane 0: the submitting thread).
    func record(lane: Int, invocation: Int32, start: UInt64, end: UInt64) {
        guard lane < threadCount else { return }
        let count = counters + lane * Self.counterStride
        let base = events + lane * capacity
        let n = count[0]
        if n > 0, lane > 0, base[n - 1].invocation == invocation {
            base[n - 1].end = end
            return
        }
        guard n < capacity else { count[1] += 1; return }
        base[n] = Event(invocation: invocation, start: start, end: end)
        count[0] = n + 1
    }

    /// Spans lost because a lane was full.
    public var droppedSpans: Int {
        (0 ..< threadCount).reduce(0) { $0 + counters[$1 * Self.counterStride + 1] }
    }

    /// Calls `visit(lane, operation, start, end)` for every recorded span, times in nanoseconds
    /// since the tracer was made. Call when no pool job or span is running.
    private func forEachSpan(_ visit: (Int, TraceOperation, UInt64, UInt64) -> Void) {
        let invocations = caller.withLock { $0.invocations }
        for lane in 0 ..< threadCount {
            let base = events + lane * capacity
            for i in 0 ..< counters[lane * Self.counterStride] {
                let e = base[i]
                let op = invocations[Int(e.invocation)]
                let start = e.start >= origin ? e.start - origin : 0
                visit(lane, op, start, max(e.end, e.start) - e.start + start)
            }
        }
    }

    /// The trace as Chrome trace-event JSON: one complete (`"ph":"X"`) event per span, times in
    /// microseconds since the tracer was made, `tid` the lane (0: the caller), and `args` with
    /// the shape, operation count and weight bytes. Call when no pool job or span is running.
    public func chromeTraceJSON() -> Data {
        var out = "{\"traceEvents\":[\n"
        var first = true
        func append(_ event: String) {
            if !first { out += ",\n" }
            first = false
            out += event
        }
        for lane in 0 ..< threadCount {
            let name = lane == 0 ? "caller" : "worker \(lane)"
            append("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":\(lane),\"args\":{\"name\":\"\(name)\"}}")
        }
        forEachSpan { lane, op, start, end in
            var args = "\"shape\":[\(op.shape.map(String.init).joined(separator: ","))],\"ops\":\(Int64(op.operations)),\"weight_bytes\":\(Int64(op.weightBytes))"
            if let t = op.weightType { args += ",\"type\":\(Self.quoted(t))" }
            append("{\"name\":\(Self.quoted(op.name)),\"cat\":\(Self.quoted(op.category)),\"ph\":\"X\",\"ts\":\(Self.microseconds(start)),"
                   + "\"dur\":\(Self.microseconds(end - start)),\"pid\":1,\"tid\":\(lane),\"args\":{\(args)}}")
        }
        out += "\n],\"displayTimeUnit\":\"ms\"}\n"
        return Data(out.utf8)
    }

    /// Writes ``chromeTraceJSON()`` to `path` (replacing a file there).
    /// - Parameter path: the file to write.
    /// - Throws: ``TraceError/cannotWrite(path:reason:)`` when the file cannot be written.
    public func write(to path: String) throws(TraceError) {
        do {
            try chromeTraceJSON().write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .cannotWrite(path: path, reason: error.localizedDescription)
        }
    }

    /// The caller's spans (lane 0) grouped by name: calls, wall time, operations and weight bytes.
    /// Call when no pool job or span is running.
    public func summary() -> TraceSummary {
        var rows: [String: TraceSummary.Row] = [:]
        var order: [String] = []
        var first = UInt64.max, last = UInt64(0)
        forEachSpan { lane, op, start, end in
            guard lane == 0 else { return }
            first = min(first, start)
            last = max(last, end)
            guard !op.isPhase else { return }
            let seconds = Double(end - start) / 1e9
            if rows[op.name] == nil {
                order.append(op.name)
                rows[op.name] = TraceSummary.Row(operation: op, calls: 0, seconds: 0, operations: 0, weightBytes: 0)
            }
            rows[op.name]?.calls += 1
            rows[op.name]?.seconds += seconds
            rows[op.name]?.operations += op.operations
            rows[op.name]?.weightBytes += op.weightBytes
        }
        let sorted = order.compactMap { rows[$0] }.sorted { $0.seconds > $1.seconds }
        return TraceSummary(rows: sorted, tracedSeconds: last > first ? Double(last - first) / 1e9 : 0)
    }

    private static func microseconds(_ nanoseconds: UInt64) -> String {
        String(format: "%.3f", Double(nanoseconds) / 1000)
    }

    /// `s` as a JSON string literal.
    private static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Where a trace's time went, per operation (kind and shape), from the submitting thread's spans.
public struct TraceSummary: Sendable {
    /// One operation kind and shape: all spans of one name.
    public struct Row: Sendable {
        /// The first span's description (the name, category, type and shape of all of them).
        public var operation: TraceOperation
        /// Spans of this name.
        public var calls: Int
        /// Their wall time in seconds, as the submitting thread saw it.
        public var seconds: Double
        /// Their arithmetic operations (a multiply-add counted as two).
        public var operations: Double
        /// Their weight bytes streamed.
        public var weightBytes: Double

        /// Operations per second, in billions; nil when the operation has no operation count.
        public var gigaOpsPerSecond: Double? {
            operations > 0 && seconds > 0 ? operations / seconds / 1e9 : nil
        }
        /// Weight bytes per second, in billions; nil when the operation streams no weights.
        public var gigabytesPerSecond: Double? {
            weightBytes > 0 && seconds > 0 ? weightBytes / seconds / 1e9 : nil
        }
    }

    /// Operations, most time first (phases left out).
    public var rows: [Row]
    /// Wall time from the first span's start to the last span's end, in seconds.
    public var tracedSeconds: Double

    /// The time of all rows, in seconds (what the table's shares are of).
    public var operationSeconds: Double { rows.reduce(0) { $0 + $1.seconds } }
}
