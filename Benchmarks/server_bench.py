#!/usr/bin/env python3
"""`smolvlm serve` next to llama.cpp's llama-server: the driver of Benchmarks/server-vs-llama-server.sh.

Both servers get the same GGUF files and the same flags (-t, -c, -np), and run one at a time, never
together, alternating per phase (llama-server, ours, llama-server, ours):

  frames  server started with -np 1. The webcam page's exact request (LLAMA_SERVER_API.md: only
          Content-Type, body {"max_tokens":100,"messages":[{"role":"user","content":[text "What do
          you see?", image_url data:image/jpeg;base64,...]}]}, the server's default sampling) sent
          back to back, WARMUP + RUNS times, each with a 640x480 JPEG frame (quality 80, drawn
          deterministically). "new frame": every request a different frame (a moving shape and fresh
          noise), so every request pays for decoding, slicing and encoding the image, as a live camera
          does; "same frame": one frame over and over (llama-server reuses the slot's cached prompt,
          ours its image cache). p50/p95 of the wall time per request.
  text    server started with -np 4. 1, 2 and 4 concurrent text-only requests (greedy, max_tokens 64,
          one prompt per stream, different between streams) released together; aggregate generated
          tokens/s = sum of usage.completion_tokens / wall time of the batch; median of REPEATS batches
          after one warm-up batch.

ROUNDS > 1 repeats both phases, alternating servers again, and pools the samples (the machine's
speed drifts; compare within one sitting). Ratios are llama-server time / ours (> 1: ours faster); for tokens/s that is ours / llama-server.
Peak RSS is VmHWM of the server process at the end of each phase.
"""
import argparse
import base64
import concurrent.futures as cf
import io
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What do you see?"
STREAM_PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a bicycle gear works.",
    "Describe a busy market in the morning.",
    "List some facts about the planet Mars.",
    "Tell me about the history of paper.",
    "Describe a thunderstorm over the sea.",
    "Write a poem about an old clock.",
    "Explain why the sky looks blue.",
]


# ---------------------------------------------------------------- frames

def frame_jpeg(index, width=640, height=480, quality=80):
    """A deterministic 640x480 'camera frame': a lit gradient scene, a few fixed objects, one object
    moving with `index`, and sensor noise seeded by `index` (so every index gives different bytes
    and different pixels)."""
    import numpy as np
    from PIL import Image, ImageDraw

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = 90 + 80 * x / width
    img[..., 1] = 110 + 60 * y / height
    img[..., 2] = 150 - 50 * (x + y) / (width + height)
    im = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    d.rectangle([60, 300, 260, 460], fill=(140, 90, 50))          # a table
    d.ellipse([380, 80, 520, 220], fill=(230, 210, 80))            # a lamp
    d.rectangle([420, 260, 600, 420], fill=(40, 60, 120))          # a box
    cx = 100 + (index * 13) % 400                                  # the moving thing
    cy = 150 + (index * 7) % 120
    d.ellipse([cx - 40, cy - 40, cx + 40, cy + 40], fill=(200, 60, 60))
    arr = np.asarray(im).astype(np.int16)
    rng = np.random.default_rng(1000 + index)
    arr = (arr + rng.integers(-6, 7, arr.shape)).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def webcam_body(jpeg, max_tokens):
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
    return {"max_tokens": max_tokens, "messages": [{"role": "user", "content": [
        {"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": uri}}]}]}


# ---------------------------------------------------------------- servers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    def __init__(self, cmd, logdir, name):
        self.port = free_port()
        self.cmd = cmd + ["--host", "127.0.0.1", "--port", str(self.port)]
        self.url = f"http://127.0.0.1:{self.port}"
        self.logpath = Path(logdir) / f"{name}-{self.port}.log"
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{name} not healthy within 300 s:\n{self.tail()}")

    def tail(self, n=30):
        self.log.flush()
        return "\n".join(self.logpath.read_text(errors="replace").splitlines()[-n:])

    def peak_rss_kib(self):
        return peak_rss_kib(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- measurements

def post_chat(session, url, body, timeout):
    """POSTs like the webcam page (JSON body, Content-Type only); returns (seconds, response json)."""
    data = json.dumps(body, separators=(",", ":"))
    t0 = time.perf_counter()
    r = session.post(url + "/v1/chat/completions", data=data, headers={"Content-Type": "application/json"},
                     timeout=timeout)
    dt = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"HTTP {r.status_code}: {r.text[:500]}")
    return dt, r.json()


def pct(values, q):
    s = sorted(values)
    return s[max(0, -(-len(s) * q // 100) - 1)] if s else float("nan")


def run_frames(server, mode, max_tokens, warmup, runs, frame_base, timeout, raw):
    """Sequential webcam requests; appends the timed ones' figures to `raw` (lists by field)."""
    with requests.Session() as s:
        for i in range(warmup + runs):
            idx = frame_base + i if mode == "new" else 0
            dt, j = post_chat(s, server.url, webcam_body(frame_jpeg(idx), max_tokens), timeout)
            if i < warmup:
                continue
            u = j.get("usage") or {}
            t = j.get("timings") or {}
            raw.setdefault("latency_s", []).append(dt)
            raw.setdefault("prompt_tokens", []).append(u.get("prompt_tokens", 0))
            raw.setdefault("completion_tokens", []).append(u.get("completion_tokens", 0))
            raw.setdefault("cached_tokens", []).append((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
            if "prompt_ms" in t:
                raw.setdefault("prompt_ms", []).append(t["prompt_ms"])


def frame_summary(raw):
    lat = raw["latency_s"]
    return {"p50_s": statistics.median(lat), "p95_s": pct(lat, 95), "mean_s": statistics.fmean(lat), "n": len(lat),
            "prompt_tokens": statistics.median(raw["prompt_tokens"]),
            "completion_tokens_mean": statistics.fmean(raw["completion_tokens"]),
            "cached_tokens_median": statistics.median(raw["cached_tokens"]),
            "prompt_ms_median": statistics.median(raw["prompt_ms"]) if raw.get("prompt_ms") else None}


def run_streams(server, n, max_tokens, repeats, timeout, batches):
    """`n` concurrent greedy text requests released together, `repeats` times after one warm-up batch;
    appends each timed batch (wall time, tokens, aggregate tokens/s) to `batches`."""
    def one(i, barrier):
        with requests.Session() as s:
            body = {"max_tokens": max_tokens, "temperature": 0,
                    "messages": [{"role": "user", "content": STREAM_PROMPTS[i % len(STREAM_PROMPTS)]}]}
            barrier.wait(timeout=60)
            t0 = time.perf_counter()
            dt, j = post_chat(s, server.url, body, timeout)
            return t0, t0 + dt, j["usage"]["completion_tokens"], (j.get("timings") or {}).get("predicted_per_second")

    with cf.ThreadPoolExecutor(n) as ex:
        for rep in range(repeats + 1):  # the first batch warms up (prompt caches, first-use allocations)
            barrier = threading.Barrier(n)
            out = [f.result(timeout=timeout) for f in [ex.submit(one, i, barrier) for i in range(n)]]
            if rep == 0:
                continue
            wall = max(e for _, e, _, _ in out) - min(s for s, _, _, _ in out)
            toks = sum(c for _, _, c, _ in out)
            per = [p for _, _, _, p in out if p]
            batches.append({"wall_s": wall, "tokens": toks, "tps": toks / wall,
                            "per_stream_tps": statistics.fmean(per) if per else None})


def text_summary(batches):
    tps = [b["tps"] for b in batches]
    return {"tps_median": statistics.median(tps), "tps": tps, "tokens": statistics.median(b["tokens"] for b in batches),
            "wall_s_median": statistics.median(b["wall_s"] for b in batches)}


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama", required=True, help="llama-server command")
    ap.add_argument("--ours", required=True, help='our server command, e.g. ".build/release/smolvlm serve"')
    ap.add_argument("--text", default=str(ROOT / "models/smolvlm-256m-text-q8_0.gguf"))
    ap.add_argument("--mmproj", default=str(ROOT / "models/smolvlm-256m-mmproj-q8_0.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=10, help="timed webcam requests per mode")
    ap.add_argument("--warmup", type=int, default=2, help="untimed webcam requests before them")
    ap.add_argument("--frame-tokens", default="100", help="max_tokens of the webcam request, comma list")
    ap.add_argument("--modes", default="new,same", help="webcam modes: new (a new frame each time), same")
    ap.add_argument("--stream-tokens", type=int, default=64)
    ap.add_argument("--concurrency", default="1,2,4")
    ap.add_argument("--parallel", type=int, default=4, help="-np for the text phase")
    ap.add_argument("--repeats", type=int, default=3, help="timed batches per concurrency level")
    ap.add_argument("--phases", default="frames,text")
    ap.add_argument("--rounds", type=int, default=1, help="repeat everything, alternating servers; samples pooled")
    ap.add_argument("--llama-args", default="", help="extra flags for llama-server only")
    ap.add_argument("--ours-args", default="", help="extra flags for ours only")
    ap.add_argument("--timeout", type=float, default=600, help="per request, seconds")
    ap.add_argument("--json", help="also write every figure here")
    a = ap.parse_args()

    for f in (a.text, a.mmproj):
        if not Path(f).exists():
            sys.exit(f"missing model file {f} (models/build-test-models.sh, or TEXT=... MMPROJ=...)")
    common = ["-m", a.text, "--mmproj", a.mmproj, "-t", str(a.threads), "-c", str(a.ctx)]
    servers = {"llama-server": shlex.split(a.llama) + common + shlex.split(a.llama_args),
               "ours": shlex.split(a.ours) + common + shlex.split(a.ours_args)}
    frame_tokens = [int(x) for x in a.frame_tokens.split(",") if x]
    modes = [m for m in a.modes.split(",") if m]
    levels = [int(x) for x in a.concurrency.split(",") if x]
    phases = [p for p in a.phases.split(",") if p]
    logdir = tempfile.mkdtemp(prefix="server-bench-")

    print(f"text {Path(a.text).name}, mmproj {Path(a.mmproj).name}; -t {a.threads} -c {a.ctx}; {a.rounds} round(s); "
          f"load average at start {open('/proc/loadavg').read().split()[:3]} on {os.cpu_count()} CPUs", flush=True)
    commands = {}
    raw_frames, raw_text, peaks = {}, {}, {}

    def start(name, cmd, phase):
        line = shlex.join(cmd) + " --host 127.0.0.1 --port P"
        if line not in commands.setdefault(name, []):
            commands[name].append(line)
        print(f"[{phase}] {name}: {shlex.join(cmd)}", flush=True)
        return Server(cmd, logdir, name)

    for rnd in range(a.rounds):
        if "frames" in phases:
            for name, base in servers.items():
                srv = start(name, base + ["-np", "1"], "frames")
                try:
                    for k, mt in enumerate(frame_tokens):
                        for mode in modes:
                            # both servers get the same frames; every variant and round new ones
                            base_idx = 1 + 1000 * (k + len(frame_tokens) * rnd)
                            raw = {}
                            run_frames(srv, mode, mt, a.warmup, a.runs, base_idx, a.timeout, raw)
                            for f, v in raw.items():
                                raw_frames.setdefault(f"{mode}/{mt}", {}).setdefault(name, {}).setdefault(f, []).extend(v)
                            r = frame_summary(raw)
                            print(f"    {mode:4} frame, max_tokens {mt}: p50 {r['p50_s']:.3f} s  p95 {r['p95_s']:.3f} s  "
                                  f"prompt {r['prompt_tokens']:g} tok (cached {r['cached_tokens_median']:g}), "
                                  f"{r['completion_tokens_mean']:.1f} tok out, prompt_ms "
                                  f"{'-' if r['prompt_ms_median'] is None else round(r['prompt_ms_median'])}", flush=True)
                    peaks[f"frames/{name}"] = max(peaks.get(f"frames/{name}", 0), srv.peak_rss_kib())
                except Exception:
                    print(srv.tail(), file=sys.stderr)
                    raise
                finally:
                    srv.stop()

        if "text" in phases:
            for name, base in servers.items():
                srv = start(name, base + ["-np", str(a.parallel)], "text")
                try:
                    for n in levels:
                        batches = []
                        run_streams(srv, n, a.stream_tokens, a.repeats, a.timeout, batches)
                        raw_text.setdefault(str(n), {}).setdefault(name, []).extend(batches)
                        r = text_summary(batches)
                        print(f"    {n} concurrent: {r['tps_median']:.1f} tok/s aggregate ({r['tokens']:g} tokens, "
                              f"batch {r['wall_s_median']:.2f} s; batches {[round(x, 1) for x in r['tps']]})", flush=True)
                    peaks[f"text/{name}"] = max(peaks.get(f"text/{name}", 0), srv.peak_rss_kib())
                except Exception:
                    print(srv.tail(), file=sys.stderr)
                    raise
                finally:
                    srv.stop()

    results = {"config": vars(a), "commands": commands, "peak_rss_kib": peaks,
               "frames": {k: {n: frame_summary(r) for n, r in by.items()} for k, by in raw_frames.items()},
               "text": {k: {n: text_summary(b) for n, b in by.items()} for k, by in raw_text.items()},
               "raw": {"frames": raw_frames, "text": raw_text}}

    # ---- the table
    def ratio(l, o):
        return f"{l / o:.2f}x" if l and o else "-"

    rows = []
    for key, by in results["frames"].items():
        mode, mt = key.split("/")
        label = f"webcam frame, {'new frame each time' if mode == 'new' else 'same frame'}, max_tokens {mt}"
        l, o = by.get("llama-server"), by.get("ours")
        for stat in ("p50_s", "p95_s"):
            rows.append((f"{label}: {stat[:3]}", f"{l[stat]:.3f} s", f"{o[stat]:.3f} s", ratio(l[stat], o[stat])))
        rows.append((f"{label}: prompt tokens / tokens out", f"{l['prompt_tokens']:g} / {l['completion_tokens_mean']:.0f}",
                     f"{o['prompt_tokens']:g} / {o['completion_tokens_mean']:.0f}", ""))
    for n, by in results["text"].items():
        l, o = by["llama-server"], by["ours"]
        rows.append((f"text, {n} concurrent x {a.stream_tokens} tokens: aggregate tok/s",
                     f"{l['tps_median']:.1f}", f"{o['tps_median']:.1f}", ratio(o["tps_median"], l["tps_median"])))
    for key in sorted({k.split("/")[0] for k in results["peak_rss_kib"]}):
        l = results["peak_rss_kib"].get(f"{key}/llama-server", 0)
        o = results["peak_rss_kib"].get(f"{key}/ours", 0)
        rows.append((f"peak RSS, {key} phase", f"{l // 1024} MiB", f"{o // 1024} MiB", ratio(l, o)))

    w = max(len(r[0]) for r in rows) if rows else 10
    print(f"\n{a.runs} timed frames per mode and round after {a.warmup} warm-ups; text: median of "
          f"{a.repeats * a.rounds} batches per level after a warm-up batch")
    print(f"{'':{w}}  {'llama-server':>14}  {'ours':>14}  {'llama-server/ours':>17}")
    for r in rows:
        print(f"{r[0]:{w}}  {r[1]:>14}  {r[2]:>14}  {r[3]:>17}")
    print("\nratio: llama-server time / ours (> 1: ours faster); tok/s: ours / llama-server; RSS: llama-server / ours")
    print(f"load average at end {open('/proc/loadavg').read().split()[:3]}")
    print("commands (each started alone, on a free loopback port):")
    for name, cmds in commands.items():
        for c in cmds:
            print(f"  {name}: {c}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
