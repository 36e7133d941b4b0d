"""Shared helpers for test_api.py and test_errors.py (the OpenAI-compatible `smolvlm serve` contract).

Markers:
  ours_only(why)  -- behaviour (usually a flag) llama-server does not have: skipped under llama-server.
  differs(why)    -- shared behaviour where llama-server deviates from our contract: the test is written
                     for our contract and is a strict xfail under llama-server (so the difference stays
                     visible and is re-checked on every run).
"""
import base64
import io
import json
import os
import random
import re
import socket
import time

import pytest
import requests

KIND = os.environ.get("SMOLVLM_SERVER_KIND", "smolvlm")
LLAMA = KIND == "llama-server"
TIMEOUT = 120  # generous per-request bound: every request here is small (tiny model, short outputs)


def ours_only(why):
    return pytest.mark.skipif(LLAMA, reason=f"ours only: {why}")


def differs(why):
    return pytest.mark.xfail(LLAMA, reason=f"llama-server differs: {why}", strict=True)


# ---------------------------------------------------------------- images (in memory, Pillow)

def image_bytes(w=128, h=16, fmt="PNG", seed=0, quality=80):
    """A deterministic noisy RGB image. 128x16 costs only 5 tiles (4x1 + global) = 320 positions."""
    from PIL import Image

    rng = random.Random(seed)
    im = Image.new("RGB", (w, h))
    px = im.load()
    base = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    for y in range(h):
        for x in range(w):
            px[x, y] = ((base[0] + x * 3 + rng.randrange(16)) % 256,
                        (base[1] + y * 5 + rng.randrange(16)) % 256,
                        (base[2] + (x ^ y) + rng.randrange(16)) % 256)
    buf = io.BytesIO()
    if fmt == "JPEG":
        im.save(buf, "JPEG", quality=quality)
    else:
        im.save(buf, fmt)
    return buf.getvalue()


def b64(data):
    return base64.b64encode(data).decode("ascii")


def data_uri(data, mime="image/png"):
    return f"data:{mime};base64,{b64(data)}"


def image_part(url):
    return {"type": "image_url", "image_url": {"url": url}}


def text_part(text):
    return {"type": "text", "text": text}


PNG = image_bytes()
PNG_URI = data_uri(PNG)


# ---------------------------------------------------------------- HTTP

def post(server, path, body, headers=None, timeout=TIMEOUT, **kw):
    return requests.post(server.url + path, json=body, headers=headers or {}, timeout=timeout, **kw)


def chat(server, body, headers=None, path="/v1/chat/completions", **kw):
    return post(server, path, body, headers=headers, **kw)


def user(content):
    return [{"role": "user", "content": content}]


def error_of(resp):
    """The error object of an error response, checking the envelope `{"error":{code,message,type}}`."""
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {resp.status_code} {resp.text[:300]!r}")
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    err = body["error"]
    assert isinstance(err.get("message"), str) and err["message"], err
    assert isinstance(err.get("type"), str) and err["type"], err
    return err


def assert_error(resp, status, type_=None, all_words=(), any_words=()):
    """Status, error object code/type, and message words (case-insensitive)."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    err = error_of(resp)
    assert err.get("code") == status, err
    if type_ is not None:
        types = (type_,) if isinstance(type_, str) else tuple(type_)
        assert err["type"] in types, err
    msg = err["message"].lower()
    for w in all_words:
        assert w.lower() in msg, f"{w!r} not in message {err['message']!r}"
    if any_words:
        assert any(w.lower() in msg for w in any_words), f"none of {any_words} in {err['message']!r}"
    return err


def sse_events(raw):
    """Splits a raw text/event-stream body into the payloads of its `data:` events, checking framing:
    every event is exactly `data: <payload>` terminated by a blank line."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    assert text.endswith("\n\n"), f"stream does not end with a blank line: {text[-200:]!r}"
    events = []
    for block in text.split("\n\n")[:-1]:
        assert block.startswith("data: "), f"event not framed as 'data: ...': {block[:200]!r}"
        assert "\n" not in block, f"multi-line event: {block[:200]!r}"
        events.append(block[len("data: "):])
    return events


def parse_stream(raw):
    """(json chunks, ended_with_done). Checks [DONE] is the last event and appears once."""
    events = sse_events(raw)
    assert events, "empty stream"
    assert events[-1] == "[DONE]", f"last event is {events[-1][:200]!r}, not [DONE]"
    assert events.count("[DONE]") == 1
    return [json.loads(e) for e in events[:-1]]


def metric_value(text, name):
    """Sum of a Prometheus metric's samples (any labels) in exposition text; None when absent."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m and m.group(1) == name:
            total += float(m.group(3))
            seen = True
    return total if seen else None


def raw_http(port, head, body=b"", timeout=30, send_delay=None):
    """Sends a raw HTTP/1.1 request (head without the final blank line) and reads until the server
    closes or `timeout`. Tolerates the server answering (and closing) before the body is all sent.
    Returns (status or None, header dict lower-cased, body bytes, closed_without_answer); status None and
    closed_without_answer False mean nothing came back within `timeout`."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head.encode("latin-1") + b"\r\n\r\n")
        try:
            view = memoryview(body)
            for i in range(0, len(view), 1 << 16):
                s.sendall(view[i:i + (1 << 16)])
                if send_delay:
                    time.sleep(send_delay)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server answered (or gave up) before reading the whole body: read what it said
        data, closed = b"", False
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            data += chunk
            if b"\r\n\r\n" in data:
                hdr, _, rest = data.partition(b"\r\n\r\n")
                m = re.search(rb"content-length:\s*(\d+)", hdr, re.I)
                if m and len(rest) >= int(m.group(1)):
                    break
    finally:
        s.close()
    if not data:
        return None, {}, b"", closed
    hdr, _, rest = data.partition(b"\r\n\r\n")
    lines = hdr.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest, False


def long_text(n_words, seed):
    rng = random.Random(seed)
    words = ["apple", "river", "stone", "cloud", "lantern", "meadow", "copper", "violet", "harbor", "thunder",
             "pencil", "garden", "silver", "window", "forest", "candle", "marble", "orchid", "canyon", "velvet"]
    return " ".join(rng.choice(words) for _ in range(n_words))
