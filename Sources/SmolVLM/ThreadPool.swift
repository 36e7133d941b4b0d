import Kernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed set of worker threads that run one parallel job at a time, the caller included.
///
/// Decode of a small model issues hundreds of short matrix products per token, so handing out
/// a job must cost microseconds: workers spin briefly on an atomic job counter before they
/// sleep, and threads are created once, never per job.
package final class ThreadPool: @unchecked Sendable {
    /// Threads that take part in a job, the calling thread included.
    package let threadCount: Int
    /// Records a span per operation and per worker when set; nil (no tracing) costs one check
    /// per operation.
    package let tracer: Tracer?

    private typealias Job = (Int) -> Void
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private var job: Job?  // written by the caller before `generation` is bumped (release), read after (acquire)
    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var workers: [pthread_t] = []
    private let submitLock = Mutex(())

    /// Pause-spins before a waiting thread starts yielding its core (a few microseconds).
    private static let pauseSpins = 2_000
    /// Yields before an idle worker sleeps on the condition variable (well under a millisecond
    /// when the core is free; decode issues a job every few microseconds).
    private static let yieldLimit = 2_000

    /// Starts `threads − 1` workers (the caller is the last thread); values below 1 count as 1.
    /// - Parameters:
    ///   - threads: threads that take part in a job, the caller included.
    ///   - tracer: records the spans of work run on this pool (see ``traced(_:_:)``); nil, the
    ///     default, records nothing.
    package init(threads: Int, tracer: Tracer? = nil) {
        threadCount = max(1, threads)
        self.tracer = tracer
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        for index in 1 ..< threadCount {
            let box = Unmanaged.passRetained(WorkerStart(pool: self, index: index))
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                #if canImport(Darwin)
                let start = Unmanaged<WorkerStart>.fromOpaque(raw).takeRetainedValue()
                #else
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                #endif
                start.pool.workerLoop(index: start.index)
                return nil
            }, box.toOpaque())
            if rc == 0 { workers.append(thread) } else { box.release() }
        }
    }

    deinit {
        stopping.store(true, ordering: .releasing)
        generation.wrappingAdd(1, ordering: .releasing)
        pthread_mutex_lock(&mutex)
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
        for t in workers { pthread_join(t, nil) }
        pthread_cond_destroy(&wake)
        pthread_mutex_destroy(&mutex)
    }

    /// Runs `body(i)` once for every thread index `i` in `0 ..< threadCount` (the caller runs
    /// index 0) and returns when all have finished. Jobs from different callers are serialized.
    package func run(_ body: (Int) -> Void) {
        if let tracer, workers.count > 0, let invocation = tracer.currentInvocation {
            // The caller's time is its own span (lane 0); each worker's chunk is a span of its own.
            return dispatch { i in
                guard i > 0 else { return body(0) }
                let start = Tracer.now()
                body(i)
                tracer.record(lane: i, invocation: invocation, start: start, end: Tracer.now())
            }
        }
        dispatch(body)
    }

    /// Runs `body` inside a span named by `operation` when the pool has a tracer; otherwise just
    /// runs it (`operation` is not even built).
    /// - Parameters:
    ///   - operation: what the span measures; evaluated only when tracing.
    ///   - body: the work.
    /// - Returns: what `body` returns.
    @inline(__always)
    package func traced<R, E: Error>(_ operation: @autoclosure () -> TraceOperation, _ body: () throws(E) -> R) throws(E) -> R {
        guard let tracer else { return try body() }
        return try tracer.span(operation(), body)
    }

    private func dispatch(_ body: (Int) -> Void) {
        let active = workers.count + 1
        if active == 1 { body(0); return }
        submitLock.withLock { _ in
            withoutActuallyEscaping(body) { escaping in
                job = escaping
                pending.store(active - 1, ordering: .relaxed)
                // Sequentially consistent on both sides (here and in workerLoop) so a worker that is
                // about to sleep either sees the new generation or is seen as a sleeper.
                generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(&mutex)
                    pthread_cond_broadcast(&wake)
                    pthread_mutex_unlock(&mutex)
                }
                escaping(0)
                // Spin briefly, then yield: when the machine is oversubscribed a worker may be
                // waiting for this very core, and pure spinning would hold it off for a time slice.
                var spins = 0
                while pending.load(ordering: .acquiring) > 0 {
                    if spins < ThreadPool.pauseSpins { spins += 1; spinPause() } else { sched_yield() }
                }
                job = nil
            }
        }
    }

    /// Splits `0 ..< count` into one contiguous chunk per thread, each a multiple of `granularity`.
    package func parallelFor(_ count: Int, granularity: Int = 1, _ body: (Range<Int>) -> Void) {
        let g = max(1, granularity)
        let units = (count + g - 1) / g
        let threads = min(threadCount, max(units, 1))
        if threads <= 1 { body(0 ..< count); return }
        run { i in
            guard i < threads else { return }
            let lo = units * i / threads * g
            let hi = min(count, units * (i + 1) / threads * g)
            if lo < hi { body(lo ..< hi) }
        }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                if spins < ThreadPool.pauseSpins {
                    spins += 1
                    spinPause()
                } else if spins < ThreadPool.pauseSpins + ThreadPool.yieldLimit {
                    spins += 1
                    sched_yield()
                } else {
                    pthread_mutex_lock(&mutex)
                    sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen {
                        pthread_cond_wait(&wake, &mutex)
                    }
                    sleepers.wrappingSubtract(1, ordering: .relaxed)
                    pthread_mutex_unlock(&mutex)
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            job?(index)
            pending.wrappingSubtract(1, ordering: .releasing)
        }
    }

    private final class WorkerStart {
        let pool: ThreadPool
        let index: Int
        init(pool: ThreadPool, index: Int) { self.pool = pool; self.index = index }
    }
}

@inline(__always) private func spinPause() { sv_cpu_relax() }
