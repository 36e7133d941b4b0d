"""Load and fault tests of `smolvlm serve`: many clients with images, memory over a run, a client
that disconnects mid-stream, a client that never finishes its body, and back-pressure.

    python3 -m pytest Tests/Server/test_load.py -s -q          # -s shows the `LOAD:` summary line
    SMOLVLM_LOAD_REPORT=/tmp/load.json python3 -m pytest ...   # and writes it as JSON

Run against llama.cpp's llama-server (the `ours only` tests are skipped; it queues instead of refusing):
    SMOLVLM_SERVER_KIND=llama-server SMOLVLM_SERVER_BIN=/root/llama/build/bin/llama-server \\
        python3 -m pytest Tests/Server/test_load.py -s -q

Everything is on loopback, every call has a timeout, every count is bounded. With the tiny pair the
file takes ~15 s against llama-server on a quiet 2-core machine, ~2 min on a busy one (the load run
is most of it).
"""
import base64
import concurrent.futures as cf
import http.client
import io
import json
import math
import os
import random
import re
import socket
import statistics
import threading
import time

import pytest
import requests

from conftest import KIND, start_server

LLAMA = KIND == "llama-server"


def ours_only(why):
    return pytest.mark.skipif(LLAMA, reason=f"ours only: {why}")


CHAT = "/v1/chat/completions"
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 120  # per request; the load run's worst case is a handful of queued image requests


# ---------------------------------------------------------------- images (Pillow, in memory)

def _image(w, h, fmt, seed):
    """A deterministic noisy gradient. Wide strips (aspect >= 4) cost llama.cpp's SmolVLM slicing
    only 4x1 tiles + the overview (5 x 64 positions) instead of 13 for a 4:3 picture."""
    from PIL import Image

    rng = random.Random(seed)
    im = Image.new("RGB", (w, h))
    px = im.load()
    r0, g0, b0 = rng.randrange(256), rng.randrange(256), rng.randrange(256)
    for y in range(h):
        for x in range(w):
            px[x, y] = ((r0 + 2 * x + rng.randrange(24)) % 256, (g0 + 7 * y + rng.randrange(24)) % 256,
                        (b0 + (x ^ y) + rng.randrange(24)) % 256)
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


IMAGES = [_image(w, h, fmt, seed) for seed, (w, h, fmt) in enumerate(
    [(128, 16, "PNG"), (160, 32, "JPEG"), (96, 24, "PNG"), (200, 40, "JPEG"), (144, 24, "PNG")])]
QUESTIONS = ["What is in this image?", "Describe the picture.", "What colours do you see?", "What do you see?"]


def image_body(i, max_tokens=8):
    return {"max_tokens": max_tokens, "temperature": 0,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": QUESTIONS[i % len(QUESTIONS)]},
                {"type": "image_url", "image_url": {"url": IMAGES[i % len(IMAGES)]}}]}]}


def text_body(text, max_tokens, stream=False):
    body = {"max_tokens": max_tokens, "temperature": 0, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return body


# ---------------------------------------------------------------- response checks (return problems)

def completion_problem(resp, max_tokens):
    """None when `resp` is a well-formed non-stream chat completion, else what is wrong."""
    try:
        body = resp.json()
        ch = body["choices"][0]
        assert body["object"] == "chat.completion", body.get("object")
        assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]+", body["id"]), body["id"]
        assert ch["message"]["role"] == "assistant", ch["message"]
        assert isinstance(ch["message"]["content"], str), ch["message"]
        assert ch["finish_reason"] in ("stop", "length"), ch["finish_reason"]
        u = body["usage"]
        assert 0 < u["completion_tokens"] <= max_tokens, u
        assert u["prompt_tokens"] > 0 and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
    except (ValueError, KeyError, IndexError, TypeError, AssertionError) as e:
        return f"malformed 200: {type(e).__name__} {e}: {resp.text[:300]!r}"
    return None


def refusal_problem(resp):
    """None when `resp` is a clean 503: Retry-After (delta-seconds) and the error object."""
    ra = resp.headers.get("Retry-After")
    if ra is None or not ra.strip().isdigit():
        return f"503 without a valid Retry-After ({ra!r}): {resp.text[:200]!r}"
    try:
        err = resp.json()["error"]
        assert err["code"] == 503 and err["type"] == "unavailable_error", err
        assert isinstance(err["message"], str) and err["message"], err
    except (ValueError, KeyError, TypeError, AssertionError) as e:
        return f"503 without the error object: {type(e).__name__} {e}: {resp.text[:300]!r}"
    return None


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100)."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)] if s else float("nan")


# ---------------------------------------------------------------- the load run (shared by two tests)

CLIENTS, PER_CLIENT, WARMUP_PER_CLIENT = 8, 25, 3  # warm-up: 24 requests
REFUSED_PAUSE = 0.5
LOAD_ARGS = ["-np", "2", "--queue", "4", "-c", "4096"]


def _client(url, cid, n, barrier, results):
    """One client: `n` image requests back to back on one keep-alive session (as a browser would).
    A 503 is not retried (it counts as refused); the client waits as Retry-After says, at most
    REFUSED_PAUSE s, and sends its next one."""
    with requests.Session() as s:
        if barrier is not None:
            barrier.wait(timeout=30)
        for j in range(n):
            i = cid * 7 + j
            t0 = time.perf_counter()
            try:
                r = s.post(url + CHAT, json=image_body(i), timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
            except requests.RequestException as e:
                results.append(("error", time.perf_counter() - t0, f"client {cid} req {j}: {type(e).__name__}: {e}"))
                continue
            dt = time.perf_counter() - t0
            if r.status_code == 200:
                results.append((200, dt, completion_problem(r, 8)))
            elif r.status_code == 503:
                problem = refusal_problem(r)
                results.append((503, dt, problem))
                time.sleep(REFUSED_PAUSE if problem else min(REFUSED_PAUSE, float(r.headers["Retry-After"])))
            else:
                results.append((r.status_code, dt, f"unexpected status {r.status_code}: {r.text[:300]!r}"))


def _run_clients(server, clients, per_client, trace=None):
    """`clients` threads released together, each sending `per_client` requests. With `trace`, RSS
    (KiB) is appended to it after every quarter of the requests."""
    results = []  # list.append is atomic under the GIL
    barrier = threading.Barrier(clients)
    total = clients * per_client
    with cf.ThreadPoolExecutor(clients) as ex:
        futs = [ex.submit(_client, server.url, c, per_client, barrier, results) for c in range(clients)]
        marks = [total * q // 4 for q in (1, 2, 3)]
        while trace is not None and marks and not all(f.done() for f in futs):
            if len(results) >= marks[0]:
                trace.append(server.rss_kib())
                marks.pop(0)
            time.sleep(0.05)
        for f in futs:
            f.result(timeout=READ_TIMEOUT * per_client)
    return results


@pytest.fixture(scope="module")
def load_run(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("load"), "tiny", args=LOAD_ARGS)
    try:
        # Warm-up at the run's concurrency (every client thread, both slots, every image), so that
        # per-thread allocator arenas and the like are in place before the baseline is taken.
        t0 = time.perf_counter()
        warm = _run_clients(server, CLIENTS, WARMUP_PER_CLIENT)
        warm_s = time.perf_counter() - t0
        rss_warm = server.rss_kib()

        trace = [rss_warm]
        t0 = time.perf_counter()
        results = _run_clients(server, CLIENTS, PER_CLIENT, trace)
        wall = time.perf_counter() - t0
        rss_after = server.rss_kib()
        trace.append(rss_after)
        peak = server.peak_rss_kib()
        alive = server.proc.poll() is None
        try:
            healthy = requests.get(server.url + "/health", timeout=10).status_code == 200
        except requests.RequestException:
            healthy = False
    finally:
        server.stop()

    answered = [dt for st, dt, _ in results if st == 200]
    refused = [dt for st, dt, _ in results if st == 503]
    report = {
        "server": KIND, "pair": "tiny", "args": LOAD_ARGS, "clients": CLIENTS, "per_client": PER_CLIENT,
        "requests": len(results), "answered": len(answered), "refused": len(refused),
        "other": len(results) - len(answered) - len(refused),
        "p50_ms": round(statistics.median(answered) * 1000, 1) if answered else None,
        "p95_ms": round(percentile(answered, 95) * 1000, 1) if answered else None,
        "refused_p95_ms": round(percentile(refused, 95) * 1000, 1) if refused else None,
        "wall_s": round(wall, 2), "answered_per_s": round(len(answered) / wall, 2),
        "warmup_requests": len(warm), "warmup_answered": sum(1 for st, _, _ in warm if st == 200),
        "warmup_s": round(warm_s, 2),
        "rss_warm_kib": rss_warm, "rss_after_kib": rss_after, "peak_rss_kib": peak,
        "rss_growth_pct": round(100 * (rss_after - rss_warm) / rss_warm, 1) if rss_warm else None,
        "rss_trace_mib": [round(x / 1024, 1) for x in trace],
    }
    print(f"\nLOAD: server={KIND} requests={report['requests']} answered={report['answered']} "
          f"refused={report['refused']} other={report['other']} p50={report['p50_ms']}ms p95={report['p95_ms']}ms "
          f"wall={report['wall_s']}s rss_warm={rss_warm // 1024}MiB rss_after={rss_after // 1024}MiB "
          f"({report['rss_growth_pct']:+}%) peak_rss={peak // 1024}MiB rss_trace_mib={report['rss_trace_mib']}")
    path = os.environ.get("SMOLVLM_LOAD_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
    return {"report": report, "warm": warm, "results": results, "alive": alive, "healthy": healthy}


def test_load_answered_or_refused(load_run):
    """8 clients x 25 image requests against 2 slots + 4 queue places: each is a well-formed 200 or a
    clean 503 (Retry-After, error object, promptly); no other status, no connection errors; the
    server is alive and healthy afterwards."""
    rep, results = load_run["report"], load_run["results"]
    warm_problems = [p for _, _, p in load_run["warm"] if p]
    assert not warm_problems, f"warm-up: {len(warm_problems)} bad responses, e.g. {warm_problems[:5]}"
    assert rep["requests"] == CLIENTS * PER_CLIENT
    problems = [p for _, _, p in results if p]
    assert not problems, f"{len(problems)} bad responses, e.g. {problems[:5]}"
    assert rep["answered"] + rep["refused"] == rep["requests"]
    # Refusing is for overflow only: at most 2 of 8 clients are beyond slots + queue at a time, and a
    # refused client pauses (Retry-After, <= 0.5 s); a third getting through is a loose floor (a mock
    # server taking 0.8 s a request with 2 slots answers ~55 %), it catches refusing beyond overflow.
    assert rep["answered"] >= rep["requests"] // 3, rep
    if LLAMA:
        assert rep["refused"] == 0, "llama-server queues; it never refuses"
    refused_slow = [dt for st, dt, _ in results if st == 503 and dt > 2.0]
    assert not refused_slow, f"503s must come back at once, {len(refused_slow)} took > 2 s: {refused_slow[:5]}"
    assert load_run["alive"] and load_run["healthy"], "server died or is unhealthy after the load run"


@pytest.mark.xfail(LLAMA, strict=False, reason="llama-server differs: its idle RSS grows with image requests "
                   "in some runs (+30 % and +55 % on a busy 2-core machine, -3 % on a quiet one; ~30 MiB per new "
                   "image at first, also with --cache-ram 0)")
def test_load_memory_stable(load_run):
    """RSS after the whole run within 10 % of RSS after the warm-up (llama-server users report
    growth with every image request: #27725, #28008, #23446). The warm-up runs at the same
    concurrency, so what is left to grow is per-request (a leak, an unbounded cache)."""
    rep = load_run["report"]
    assert rep["rss_warm_kib"] > 0 and rep["rss_after_kib"] > 0
    assert rep["rss_after_kib"] <= rep["rss_warm_kib"] * 1.10, (
        f"RSS grew {rep['rss_growth_pct']}% over {rep['requests']} image requests "
        f"({rep['rss_warm_kib']} -> {rep['rss_after_kib']} KiB)")


# ---------------------------------------------------------------- disconnect mid-stream

STORY = "Tell me a long story about a lighthouse keeper."


def test_disconnect_frees_slot(server_factory):
    """One slot. A streaming request for 2000 tokens is dropped after its first content chunk; a new
    4-token request must then finish in a fraction of the time those 2000 tokens would hold the slot.

    The 256M-shaped pair, text only: the tiny pair decodes ~2000 tokens/s (llama-server, 2 threads),
    so a slot it never freed would cost ~1 s and a bound of "a few seconds" would prove nothing; the
    256M model decodes ~100-180 tokens/s, so 2000 tokens hold the slot for 10-20 s."""
    n_long = 2000
    s = server_factory(pair="256m", vision=False, args=["-np", "1", "-c", "4096"])
    url = s.url + CHAT
    to = (CONNECT_TIMEOUT, READ_TIMEOUT)

    r = requests.post(url, json=text_body("Hi", 4), timeout=to)  # warm-up
    assert r.status_code == 200, r.text[:300]
    t0 = time.perf_counter()
    r = requests.post(url, json=text_body(STORY, 64), timeout=to)
    wall64 = time.perf_counter() - t0
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert body["usage"]["completion_tokens"] == 64, "the story prompt must not stop early (greedy)"
    tps = (body.get("timings") or {}).get("predicted_per_second") or 64 / wall64
    hold = n_long / tps  # how long the dropped request would keep the only slot without cancellation
    bound = min(5.0, 0.25 * hold)
    assert hold >= 8.0, f"decoding too fast ({tps:.0f} tok/s) for {n_long} tokens to prove anything"

    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    t_start = time.perf_counter()
    conn.request("POST", CHAT, body=json.dumps(text_body(STORY, n_long, stream=True)),
                 headers={"Content-Type": "application/json"})
    sock = conn.sock  # http.client drops conn.sock for a close-delimited response: keep it to drop it
    resp = conn.getresponse()
    assert resp.status == 200, resp.read(300)
    first = None
    while first is None and time.perf_counter() - t_start < 60:
        line = resp.fp.readline()
        assert line, "stream ended before any content"
        if line.startswith(b"data: ") and line.strip() != b"data: [DONE]":
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                first = delta["content"]
    assert first is not None, "no content chunk within 60 s"
    t_first = time.perf_counter() - t_start
    sock.shutdown(socket.SHUT_RDWR)  # drop the connection now, not when the response is collected
    resp.close()
    conn.close()

    t0 = time.perf_counter()
    r = requests.post(url, json=text_body("Hi", 4), timeout=(CONNECT_TIMEOUT, hold * 3 + 60))
    follow = time.perf_counter() - t0
    print(f"\nDISCONNECT: {tps:.0f} tok/s, {n_long} tokens would hold the slot {hold:.1f} s; first chunk after "
          f"{t_first:.2f} s; next request answered in {follow:.2f} s (bound {bound:.2f} s)")
    assert r.status_code == 200, r.text[:300]
    assert completion_problem(r, 4) is None, completion_problem(r, 4)
    assert follow < bound, (f"the slot was not freed: a 4-token request took {follow:.2f} s after the "
                            f"disconnect (the dropped stream would hold it ~{hold:.1f} s)")


# ---------------------------------------------------------------- slow client (body never finishes)

SLOW_SOCKETS = 4  # more than the slots: stalled bodies must not hold workers other clients need


@ours_only("--body-timeout")
def test_slow_body_times_out_without_blocking(server_factory):
    """Sockets announce Content-Length 100000, send a few bytes and stall. Meanwhile 3 normal requests
    complete before the 2 s body timeout; within ~2-5 s each stalled socket gets a 408 or is closed."""
    s = server_factory(pair="tiny", vision=False, args=["-np", "2", "--body-timeout", "2"])
    r = requests.post(s.url + CHAT, json=text_body("Hi", 4), timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    assert r.status_code == 200, r.text[:300]

    head = (f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1:{s.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 100000\r\n\r\n").encode()
    socks = []
    t0 = time.perf_counter()
    for _ in range(SLOW_SOCKETS):
        k = socket.create_connection(("127.0.0.1", s.port), timeout=CONNECT_TIMEOUT)
        k.sendall(head + b'{"messages": [{"role": "us')
        socks.append(k)

    normal = []
    with requests.Session() as sess:
        for i in range(3):
            t = time.perf_counter()
            r = sess.post(s.url + CHAT, json=text_body(f"Hello number {i}", 4), timeout=(CONNECT_TIMEOUT, 30))
            normal.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text[:300]
            assert completion_problem(r, 4) is None, completion_problem(r, 4)
    normal_done = time.perf_counter() - t0

    outcomes = []
    for k in socks:
        k.settimeout(0.25)
        data, how = b"", None
        while how is None and time.perf_counter() - t0 < 10:
            try:
                chunk = k.recv(4096)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError, OSError) as e:
                how = f"reset ({type(e).__name__})"
                break
            if not chunk:
                how = "closed"
            else:
                data += chunk
                if b"\r\n" in data:
                    how = data.split(b"\r\n", 1)[0].decode("latin-1")
        outcomes.append((how, time.perf_counter() - t0))
        k.close()
    print(f"\nSLOW BODY: normal requests {[round(x, 3) for x in normal]} s (all done at {normal_done:.2f} s); "
          f"stalled sockets: {[(h, round(t, 2)) for h, t in outcomes]}")
    assert normal_done < 1.8, f"normal requests waited for the stalled bodies: {normal} s"
    for how, t in outcomes:
        assert how is not None, "a stalled body was neither answered nor closed within 10 s"
        assert how.startswith(("closed", "reset")) or re.match(r"HTTP/1\.[01] 408\b", how), how
        assert 1.0 <= t <= 6.0, f"stalled socket ended after {t:.2f} s, expected ~2-5 s ({how})"


# ---------------------------------------------------------------- back-pressure

@ours_only("--queue / 503 refusals (llama-server queues without limit)")
def test_queue_full_refuses_with_503(server_factory):
    """One slot and one queue place; 6 simultaneous long requests: the running and the queued one are
    answered, the others refused at once with 503 + Retry-After; none hangs; the server recovers."""
    s = server_factory(pair="tiny", vision=False, args=["-np", "1", "--queue", "1", "-c", "4096"])
    url = s.url + CHAT
    r = requests.post(url, json=text_body("Hi", 4), timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    assert r.status_code == 200, r.text[:300]

    n, max_tokens = 6, 1500
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait(timeout=30)
        t = time.perf_counter()
        r = requests.post(url, json=text_body(f"{STORY} Part {i}.", max_tokens), timeout=(CONNECT_TIMEOUT, 90))
        return r, time.perf_counter() - t

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(n) as ex:
        out = [f.result(timeout=120) for f in [ex.submit(one, i) for i in range(n)]]
    wall = time.perf_counter() - t0
    statuses = [r.status_code for r, _ in out]
    print(f"\nQUEUE: statuses {statuses}, latencies {[round(dt, 2) for _, dt in out]} s, wall {wall:.1f} s")
    assert set(statuses) <= {200, 503}, statuses
    for r, dt in out:
        if r.status_code == 200:
            assert completion_problem(r, max_tokens) is None, completion_problem(r, max_tokens)
        else:
            assert refusal_problem(r) is None, refusal_problem(r)
            assert dt < 2.0, f"a refusal took {dt:.2f} s: refusals must not wait for a slot"
    assert statuses.count(200) >= 2, f"the running and the queued request must be answered: {statuses}"
    assert statuses.count(503) >= 1, f"6 requests on 1 slot + 1 queue place, none refused: {statuses}"
    r = requests.post(url, json=text_body("Hi", 4), timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
    assert r.status_code == 200, f"not recovered after refusing: {r.status_code} {r.text[:300]}"
