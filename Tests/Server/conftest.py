"""Starts `smolvlm serve` (or, to check a test against the reference, llama-server) on loopback.

The server under test is `.build/release/smolvlm serve` unless SMOLVLM_SERVER_BIN names another
binary; SMOLVLM_SERVER_KIND=llama-server runs that binary with llama-server's argument list
instead (same spellings, minus our own flags), so the contract can be checked against llama.cpp.
"""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
KIND = os.environ.get("SMOLVLM_SERVER_KIND", "smolvlm")
BIN = os.environ.get("SMOLVLM_SERVER_BIN", str(ROOT / ".build" / "release" / "smolvlm"))

# Model pairs the tests run on: the 64-wide tiny pair (fast: load and fault tests) and the
# SmolVLM-256M-shaped synthetic pair (real shapes: one tile is a real encoder pass).
PAIRS = {
    "tiny": ("tiny-text-q8_0.gguf", "tiny-mmproj-q8_0.gguf"),
    "256m": ("smolvlm-256m-text-q8_0.gguf", "smolvlm-256m-mmproj-q8_0.gguf"),
}

OURS_ONLY = {"--max-tiles", "--max-body", "--queue", "--image-cache", "--max-images", "--max-image-pixels",
             "--body-timeout"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc, port, log):
        self.proc, self.port, self.log = proc, port, log
        self.url = f"http://127.0.0.1:{port}"

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def output(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_server(tmp_path, pair="tiny", vision=True, args=(), threads=2, wait=True):
    """Starts a server on a free loopback port and waits for /health to answer 200."""
    text, mmproj = PAIRS[pair]
    if not (MODELS / text).exists():
        pytest.skip(f"models/{text} missing: run ./models/build-test-models.sh")
    port = free_port()
    cmd = [BIN] if KIND == "llama-server" else [BIN, "serve"]
    cmd += ["-m", str(MODELS / text), "--host", "127.0.0.1", "--port", str(port), "-t", str(threads)]
    if vision:
        cmd += ["--mmproj", str(MODELS / mmproj)]
    args = list(args)
    if KIND == "llama-server":
        kept, skip = [], False
        for a in args:
            if skip:
                skip = False
                continue
            if a in OURS_ONLY:
                skip = True
                continue
            kept.append(a)
        args = kept
    cmd += args
    log = open(tmp_path / f"server-{port}.log", "w+")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    server = Server(proc, port, log)
    if wait:
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{server.output()}")
            try:
                if requests.get(server.url + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            server.stop()
            raise RuntimeError("server did not become healthy within 120 s")
    return server


@pytest.fixture
def server_factory(tmp_path):
    started = []

    def make(**kw):
        s = start_server(tmp_path, **kw)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("tiny"), "tiny", args=["-np", "2", "-n", "16"])
    yield s
    s.stop()
