"""The OpenAI-compatible API contract of `smolvlm serve` (llama-server's, plus our decisions).

Happy paths: the official `openai` client, the webcam page's request, a `requests` client as users write
it, raw SSE framing through curl, image sources (data URI, raw base64, http URL), the auxiliary
endpoints, the prompt and image caches, graceful shutdown. Errors and limits live in test_errors.py.

Run against llama.cpp's llama-server to check the shared behaviour:
  SMOLVLM_SERVER_KIND=llama-server SMOLVLM_SERVER_BIN=/root/llama/build/bin/llama-server \
      python3 -m pytest Tests/Server/test_api.py -q
"""
import base64
import json
import re
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from apihelpers import (LLAMA, TIMEOUT, assert_error, chat, data_uri, differs, image_bytes, image_part,
                        long_text, metric_value, ours_only, parse_stream, post, text_part, user)
from conftest import start_server

ALIAS = "smolvlm"
MAIN_ARGS = ["--alias", ALIAS, "-np", "2", "-n", "16", "-c", "8192", "--metrics", "--image-cache", "8"]


@pytest.fixture(scope="module")
def main(tmp_path_factory):
    """Tiny pair with vision, an alias, 2 slots, metrics (and, ours only, an image cache)."""
    s = start_server(tmp_path_factory.mktemp("api-main"), "tiny", args=MAIN_ARGS)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(main):
    from openai import OpenAI

    return OpenAI(base_url=main.url + "/v1", api_key="x", timeout=TIMEOUT, max_retries=0)


def check_completion(body, model=ALIAS):
    """The non-stream response shape of LLAMA_SERVER_API.md's "Responses"."""
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]+", body["id"]), body["id"]
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and abs(body["created"] - time.time()) < 600
    assert body["model"] == model
    assert len(body["choices"]) == 1
    ch = body["choices"][0]
    assert ch["index"] == 0
    assert ch["finish_reason"] in ("stop", "length")
    assert ch["message"]["role"] == "assistant"
    assert isinstance(ch["message"]["content"], str)
    check_usage(body["usage"])
    t = body["timings"]
    for k in ("prompt_n", "prompt_ms", "prompt_per_second", "predicted_n", "predicted_ms",
              "predicted_per_second", "cache_n"):
        assert isinstance(t[k], (int, float)) and t[k] >= 0, (k, t)
    assert t["predicted_n"] == body["usage"]["completion_tokens"], (t, body["usage"])
    assert t["cache_n"] == body["usage"]["prompt_tokens_details"]["cached_tokens"], (t, body["usage"])
    assert t["prompt_n"] + t["cache_n"] == body["usage"]["prompt_tokens"], (t, body["usage"])


def check_usage(u):
    for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert isinstance(u[k], int) and u[k] >= 0, (k, u)
    assert u["prompt_tokens"] > 0
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
    cached = u["prompt_tokens_details"]["cached_tokens"]
    assert isinstance(cached, int) and 0 <= cached <= u["prompt_tokens"], u


# ---------------------------------------------------------------- 1. the official openai client

def test_openai_chat_non_stream(main, client):
    r = client.chat.completions.create(model=ALIAS, messages=user("Say hello."), temperature=0, max_tokens=8)
    assert r.id.startswith("chatcmpl-")
    assert r.object == "chat.completion"
    assert r.model == ALIAS
    assert r.choices[0].message.role == "assistant"
    assert isinstance(r.choices[0].message.content, str) and r.choices[0].message.content
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert 0 < r.usage.completion_tokens <= 8


def test_openai_stream_equals_non_stream(main, client):
    kw = dict(model=ALIAS, messages=user("Tell me a story about a lighthouse."), temperature=0, max_tokens=12)
    # warm the prompt cache first, so the two compared requests run from the same cache state
    # (a cached vs an uncached prefill may flip near-ties of random weights' logits)
    client.chat.completions.create(**{**kw, "max_tokens": 1})
    full = client.chat.completions.create(**kw)
    stream = client.chat.completions.create(stream=True, **kw)
    pieces, finish, ids = [], None, set()
    for chunk in stream:
        ids.add(chunk.id)
        assert chunk.object == "chat.completion.chunk"
        if chunk.choices:
            d = chunk.choices[0].delta
            if d.content:
                pieces.append(d.content)
            if chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
    assert len(ids) == 1
    assert "".join(pieces) == full.choices[0].message.content
    assert finish == full.choices[0].finish_reason


@pytest.mark.parametrize("fmt,mime", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_openai_image_data_uri(main, client, fmt, mime):
    img = image_bytes(fmt=fmt, seed=11)
    msgs = user([text_part("What is in this image?"), image_part(data_uri(img, mime))])
    r = client.chat.completions.create(model=ALIAS, messages=msgs, temperature=0, max_tokens=4)
    assert isinstance(r.choices[0].message.content, str)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_openai_usage_counts_image_positions(main, client):
    text_only = client.chat.completions.create(model=ALIAS, messages=user([text_part("Describe it.")]),
                                               temperature=0, max_tokens=2)
    with_image = client.chat.completions.create(
        model=ALIAS, messages=user([image_part(data_uri(image_bytes(seed=12))), text_part("Describe it.")]),
        temperature=0, max_tokens=2)
    for r in (text_only, with_image):
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
        assert r.usage.prompt_tokens_details.cached_tokens <= r.usage.prompt_tokens
    # one tile alone is 64 positions; the 128x16 image is several tiles
    assert with_image.usage.prompt_tokens >= text_only.usage.prompt_tokens + 64


def test_openai_models_list_alias(main, client):
    ids = [m.id for m in client.models.list()]
    assert ids == [ALIAS]


def test_openai_max_tokens_length(main, client):
    r = client.chat.completions.create(model=ALIAS, messages=user("Count to one hundred."), temperature=0,
                                       max_tokens=3)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 3


def test_response_shape_raw(main):
    r = chat(main, {"model": ALIAS, "messages": user("Hello there"), "temperature": 0, "max_tokens": 5})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    check_completion(r.json())


def test_chat_route_without_v1(main):
    body = {"messages": user("Hello there"), "temperature": 0, "max_tokens": 5}
    chat(main, {**body, "max_tokens": 1})  # warm the prompt cache: both compared requests start alike
    a = chat(main, body, path="/chat/completions")
    b = chat(main, body)
    assert a.status_code == 200, a.text
    check_completion(a.json())
    assert a.json()["choices"][0]["message"]["content"] == b.json()["choices"][0]["message"]["content"]


def test_n_predict_default_from_flag(main):
    # started with -n 16: a request without max_tokens stops at 16 tokens at most
    r = chat(main, {"messages": user("Write a long essay."), "temperature": 0})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["usage"]["completion_tokens"] <= 16
    if body["choices"][0]["finish_reason"] == "length":
        assert body["usage"]["completion_tokens"] == 16


# ---------------------------------------------------------------- 2. the webcam page and a typical requests client

def test_webcam_page_request(main):
    frame = image_bytes(640, 480, fmt="JPEG", seed=21, quality=80)  # canvas.toDataURL('image/jpeg', 0.8)
    body = {"max_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What do you see?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(frame).decode()}}]}]}
    # the browser sends only Content-Type (plus Origin: the page is opened from a file)
    r = requests.post(main.url + "/v1/chat/completions", data=json.dumps(body),
                      headers={"Content-Type": "application/json", "Origin": "null"}, timeout=TIMEOUT)
    assert r.ok, f"Server error: {r.status_code} - {r.text}"
    assert r.headers.get("Access-Control-Allow-Origin") in ("null", "*")
    data = r.json()
    assert isinstance(data["choices"][0]["message"]["content"], str)
    assert data["usage"]["completion_tokens"] <= 100


def test_typical_requests_client(main, tmp_path, monkeypatch):
    (tmp_path / "image.jpg").write_bytes(image_bytes(320, 240, fmt="JPEG", seed=22))
    monkeypatch.chdir(tmp_path)
    # LLAMA_SERVER_API.md's last section, unchanged but for the server address
    with open("image.jpg", "rb") as f:
        image_b64 = base64.b64encode(f.read()).decode("utf-8")
    response = requests.post(main.url + "/v1/chat/completions", json={
        "model": "smolvlm",
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{image_b64}"}},
            {"type": "text", "text": "Describe this image"}]}],
        "max_tokens": 20,
        "temperature": 0.0}, timeout=TIMEOUT)
    print(response.json())
    assert response.status_code == 200, response.text
    body = response.json()
    check_completion(body)
    assert body["usage"]["completion_tokens"] <= 20


# ---------------------------------------------------------------- 3. raw SSE framing through curl

def curl_stream(server, body, tmp_path):
    hdr = tmp_path / "headers.txt"
    p = subprocess.run(["curl", "-sN", "--max-time", "60", "-D", str(hdr), "-H", "Content-Type: application/json",
                        "-d", json.dumps(body), server.url + "/v1/chat/completions"],
                       capture_output=True, timeout=90)
    assert p.returncode == 0, p.stderr
    head = hdr.read_text(errors="replace")
    status = int(head.split("\r\n")[0].split()[1])
    return status, head, p.stdout


def check_chunks(chunks, include_usage):
    # all chunks share id/object/created/model; llama-server stamps each chunk with the current time, so
    # there `created` may tick during a stream (a known difference: not checked under llama-server)
    ids = {(c["id"], c["object"], None if LLAMA else c["created"], c["model"]) for c in chunks}
    assert len(ids) == 1, ids
    cid, obj, _, model = ids.pop()
    assert all(isinstance(c["created"], int) for c in chunks)
    assert cid.startswith("chatcmpl-") and obj == "chat.completion.chunk" and model == ALIAS
    first = chunks[0]["choices"][0]
    assert first["delta"].get("role") == "assistant"
    assert first["delta"].get("content") in (None, "")
    assert first["finish_reason"] is None
    body = chunks[:-1] if include_usage else chunks
    last = body[-1]["choices"][0]
    assert last["finish_reason"] in ("stop", "length")
    assert last["delta"] == {} or last["delta"].get("content") in (None, "")
    for c in body[1:-1]:
        ch = c["choices"][0]
        assert ch["finish_reason"] is None
        assert set(ch["delta"]) <= {"content"} and isinstance(ch["delta"]["content"], str), ch
    if include_usage:
        u = chunks[-1]
        assert u["choices"] == []
        check_usage(u["usage"])
    else:
        assert all(c["choices"] for c in chunks), "a choices:[] usage chunk without include_usage"


def test_curl_sse_framing(main, tmp_path):
    body = {"messages": user("Hello there"), "temperature": 0, "max_tokens": 6, "stream": True}
    plain = {k: v for k, v in body.items() if k != "stream"}
    chat(main, {**plain, "max_tokens": 1})  # warm the prompt cache: both compared requests start alike
    full = chat(main, plain).json()
    status, head, raw = curl_stream(main, body, tmp_path)
    assert status == 200
    assert re.search(r"(?im)^content-type:\s*text/event-stream", head), head
    chunks = parse_stream(raw)
    check_chunks(chunks, include_usage=False)
    # the streamed text equals the non-stream text
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == full["choices"][0]["message"]["content"]


def test_curl_sse_include_usage(main, tmp_path):
    body = {"messages": user("Hello there"), "temperature": 0, "max_tokens": 6, "stream": True,
            "stream_options": {"include_usage": True}}
    status, head, raw = curl_stream(main, body, tmp_path)
    assert status == 200
    chunks = parse_stream(raw)
    check_chunks(chunks, include_usage=True)
    assert chunks[-1]["usage"]["completion_tokens"] <= 6


def test_stream_with_image(main):
    body = {"messages": user([text_part("What is this?"), image_part(data_uri(image_bytes(seed=31)))]),
            "temperature": 0, "max_tokens": 4, "stream": True, "stream_options": {"include_usage": True}}
    r = chat(main, body)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/event-stream")
    chunks = parse_stream(r.content)
    check_chunks(chunks, include_usage=True)
    assert chunks[-1]["usage"]["prompt_tokens"] > 64


# ---------------------------------------------------------------- 4. image sources

@pytest.fixture(scope="module")
def image_host():
    """A loopback HTTP server: /img.png is an image, anything else 404."""
    payload = image_bytes(seed=41)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/img.png":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            else:
                self.send_error(404)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", payload
    httpd.shutdown()
    httpd.server_close()


def test_image_from_http_url(main, image_host):
    base, payload = image_host
    inline_body = {"messages": user([image_part(data_uri(payload)), text_part("What is this?")]),
                   "temperature": 0, "max_tokens": 3}
    chat(main, inline_body)  # warm the caches, so the two compared requests start from the same state
    by_url = chat(main, {"messages": user([image_part(base + "/img.png"), text_part("What is this?")]),
                         "temperature": 0, "max_tokens": 3})
    assert by_url.status_code == 200, by_url.text
    check_completion(by_url.json())
    # the same bytes inline give the same prompt length and the same greedy answer
    inline = chat(main, inline_body).json()
    assert by_url.json()["usage"]["prompt_tokens"] == inline["usage"]["prompt_tokens"]
    assert by_url.json()["choices"][0]["message"]["content"] == inline["choices"][0]["message"]["content"]


@differs("a failed image download is 500 server_error ('Failed to download image' / 'cannot make GET request')")
def test_image_url_404_is_400(main, image_host):
    base, _ = image_host
    r = chat(main, {"messages": user([image_part(base + "/missing.png"), text_part("What is this?")]),
                    "max_tokens": 3})
    assert_error(r, 400, "invalid_request_error", any_words=("image", "download", "fetch"))


def test_image_raw_base64(main):
    img = image_bytes(seed=42)
    uri_body = {"messages": user([image_part(data_uri(img)), text_part("What?")]), "temperature": 0, "max_tokens": 3}
    chat(main, uri_body)  # warm the caches, so the two compared requests start from the same state
    raw = chat(main, {"messages": user([image_part(base64.b64encode(img).decode()), text_part("What?")]),
                      "temperature": 0, "max_tokens": 3})
    assert raw.status_code == 200, raw.text
    uri = chat(main, uri_body).json()
    assert raw.json()["usage"]["prompt_tokens"] == uri["usage"]["prompt_tokens"]
    assert raw.json()["choices"][0]["message"]["content"] == uri["choices"][0]["message"]["content"]


# ---------------------------------------------------------------- 5 (happy part). several images

def test_multiple_images_one_message(main):
    one = chat(main, {"messages": user([text_part("Compare."), image_part(data_uri(image_bytes(seed=51)))]),
                      "max_tokens": 2}).json()
    two = chat(main, {"messages": user([text_part("Compare."), image_part(data_uri(image_bytes(seed=51))),
                                        image_part(data_uri(image_bytes(seed=52)))]), "max_tokens": 2})
    assert two.status_code == 200, two.text
    check_completion(two.json())
    assert two.json()["usage"]["prompt_tokens"] >= one["usage"]["prompt_tokens"] + 64


def test_multiple_images_across_messages(main):
    img = lambda s: image_part(data_uri(image_bytes(seed=s)))  # noqa: E731
    messages = [
        {"role": "system", "content": [text_part("You describe images."), img(61)]},
        {"role": "user", "content": [img(62), text_part("What is this?")]},
        {"role": "assistant", "content": "A picture."},
        {"role": "user", "content": [text_part("And these two?"), img(63), img(64)]},
    ]
    r = chat(main, {"messages": messages, "temperature": 0, "max_tokens": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    check_completion(body)
    assert body["usage"]["prompt_tokens"] >= 4 * 64


# ---------------------------------------------------------------- 6. auxiliary endpoints

def test_health(main):
    r = requests.get(main.url + "/health", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/v1/models", "/models"])
def test_models(main, path):
    r = requests.get(main.url + path, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list"
    assert len(body["data"]) == 1
    m = body["data"][0]
    assert m["id"] == ALIAS
    assert m["object"] == "model"
    assert isinstance(m["created"], int)
    assert isinstance(m["owned_by"], str) and m["owned_by"]


def test_props(main):
    r = requests.get(main.url + "/props", timeout=10)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["modalities"]["vision"] is True
    assert p["total_slots"] == 2
    assert isinstance(p["chat_template"], str) and p["chat_template"]
    dgs = p["default_generation_settings"]
    assert isinstance(dgs, dict)
    n_ctx = p.get("n_ctx", dgs.get("n_ctx"))
    assert isinstance(n_ctx, int) and n_ctx >= 4096  # -c 8192 (per slot or in total)


def test_tokenize_detokenize(main):
    content = "Hello world, this is SmolVLM."
    r = post(main, "/tokenize", {"content": content})
    assert r.status_code == 200, r.text
    toks = r.json()["tokens"]
    assert toks and all(isinstance(t, int) for t in toks)
    d = post(main, "/detokenize", {"tokens": toks})
    assert d.status_code == 200, d.text
    assert d.json()["content"] == content


def test_tokenize_with_pieces(main):
    content = "Hello world"
    plain = post(main, "/tokenize", {"content": content}).json()["tokens"]
    r = post(main, "/tokenize", {"content": content, "with_pieces": True})
    assert r.status_code == 200, r.text
    pieces = r.json()["tokens"]
    assert [p["id"] for p in pieces] == plain
    assert all(isinstance(p["piece"], str) for p in pieces)
    assert "".join(p["piece"] for p in pieces) == content


def test_tokenize_add_special(main):
    content = "Hello world"
    plain = post(main, "/tokenize", {"content": content, "add_special": False}).json()["tokens"]
    r = post(main, "/tokenize", {"content": content, "add_special": True})
    assert r.status_code == 200, r.text
    special = r.json()["tokens"]
    assert special[len(special) - len(plain):] == plain  # BOS (if the vocab adds one) goes in front


def test_apply_template(main):
    r = post(main, "/apply-template", {"messages": user("Hello")})
    assert r.status_code == 200, r.text
    assert r.json()["prompt"] == "<|im_start|>User: Hello<end_of_utterance>\nAssistant:"
    r = post(main, "/apply-template", {"messages": [{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": "Hello"}]})
    assert r.status_code == 200, r.text
    assert r.json()["prompt"] == ("<|im_start|>System: Be brief.<end_of_utterance>\n"
                                  "User: Hello<end_of_utterance>\nAssistant:")


def test_metrics_enabled(main):
    chat(main, {"messages": user("Hi"), "max_tokens": 2})  # something to count
    r = requests.get(main.url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    assert re.search(r"(?m)^# TYPE \S+ (counter|gauge|histogram|summary)$", text), text[:500]
    counters = re.findall(r"(?m)^([a-zA-Z_:][\w:]*(?:requests|tokens)[\w:]*)(?:\{[^}]*\})? ([0-9.eE+-]+)$", text)
    assert counters, text[:1000]
    assert any(float(v) > 0 for _, v in counters), counters


# ---------------------------------------------------------------- 7. caches

def test_prompt_cache_reuses_prefix(main):
    prompt = "Summarize: " + long_text(300, seed=int(time.time()))
    body = {"messages": user(prompt), "temperature": 0, "max_tokens": 2}
    first = chat(main, body).json()
    second = chat(main, body).json()
    n = second["usage"]["prompt_tokens"]
    assert n == first["usage"]["prompt_tokens"] and n > 300
    c2 = second["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert c2 > first["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert c2 >= n // 2, second["usage"]
    assert second["timings"]["cache_n"] == c2


@ours_only("--image-cache (llama-server has no image-embedding cache); assumes metric smolvlm_image_cache_hits_total")
def test_image_cache_hit_counted(main):
    img = data_uri(image_bytes(seed=int(time.time()) % 100000 + 1000))

    def hits():
        v = metric_value(requests.get(main.url + "/metrics", timeout=10).text, "smolvlm_image_cache_hits_total")
        assert v is not None, "metric smolvlm_image_cache_hits_total missing from /metrics"
        return v

    h0 = hits()
    # different text *before* the image, so the prompt (prefix) cache cannot cover the image
    a = chat(main, {"messages": user([text_part("First question about"), image_part(img)]), "max_tokens": 2})
    assert a.status_code == 200, a.text
    h1 = hits()
    b = chat(main, {"messages": user([text_part("A second, different question on"), image_part(img)]),
                    "max_tokens": 2})
    assert b.status_code == 200, b.text
    h2 = hits()
    assert h1 == h0, "a never-seen image counted as a hit"
    assert h2 == h1 + 1, (h0, h1, h2)


# ---------------------------------------------------------------- 8. graceful shutdown

@differs("on SIGTERM llama-server stops generating but leaves the open stream hanging and only exits once "
         "the client disconnects")
def test_sigterm_ends_stream_and_exits(tmp_path):
    server = start_server(tmp_path, "tiny", vision=False, args=["-np", "1", "-c", "8192"])
    events, done = [], threading.Event()
    r = requests.post(server.url + "/v1/chat/completions", stream=True, timeout=(5, 8), json={
        "messages": user("hi"), "max_tokens": 8000, "temperature": 0, "stream": True, "ignore_eos": True})
    try:
        assert r.status_code == 200
        lines = r.iter_lines()
        first = next(lines)
        assert first.startswith(b"data: ")

        def reader():
            try:
                for line in lines:
                    if line:
                        events.append(line.decode())
            except Exception as e:  # a connection closed mid-chunk also ends the stream
                events.append(f"<{type(e).__name__}>")
            finally:
                done.set()

        threading.Thread(target=reader, daemon=True).start()
        time.sleep(0.2)
        server.proc.send_signal(signal.SIGTERM)
        try:
            rc = server.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("server still running 5 s after SIGTERM")
        assert rc == 0, server.output()[-2000:]
        assert done.wait(5), "stream still open after the server exited"
        data = [e for e in events if e.startswith("data: ")]
        assert data, events
        last = data[-1][len("data: "):]
        if last == "[DONE]":
            last = data[-2][len("data: "):]
            assert json.loads(last)["choices"][0]["finish_reason"] in ("stop", "length")
        else:
            obj = json.loads(last)
            assert "error" in obj or obj["choices"][0]["finish_reason"] is not None, obj
    finally:
        r.close()
        server.stop()
