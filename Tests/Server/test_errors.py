"""Every error of the `smolvlm serve` contract: status, the `{"error":{code,message,type}}` object, the
message's key words; authentication, CORS, context limits, and (ours only) the request limits and the queue.

Run against llama.cpp's llama-server to check the shared behaviour:
  SMOLVLM_SERVER_KIND=llama-server SMOLVLM_SERVER_BIN=/root/llama/build/bin/llama-server \
      python3 -m pytest Tests/Server/test_errors.py -q
"""
import json
import os
import threading
import time

import pytest
import requests

from apihelpers import (TIMEOUT, assert_error, b64, chat, data_uri, differs, image_bytes, image_part,
                        ours_only, raw_http, text_part, user)
from conftest import start_server

KEY = "sekret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ORIGIN = "http://webcam.example"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """Text only (no --mmproj), a 256-position context, one slot, an API key, sampling defaults set."""
    s = start_server(tmp_path_factory.mktemp("err-keyed"), "tiny", vision=False,
                     args=["-c", "256", "-np", "1", "--api-key", KEY, "--temp", "0.25", "--top-k", "7"])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def limits(tmp_path_factory):
    if os.environ.get("SMOLVLM_SERVER_KIND") == "llama-server":
        pytest.skip("ours only: request limit flags")
    s = start_server(tmp_path_factory.mktemp("err-limits"), "tiny",
                     args=["-np", "1", "-c", "8192", "-n", "4", "--max-body", "300000", "--max-images", "2",
                           "--max-image-pixels", "100000", "--max-tiles", "2", "--body-timeout", "2"])
    yield s
    s.stop()


def img(seed=0, w=128, h=16):
    return image_part(data_uri(image_bytes(w, h, seed=seed)))


# ---------------------------------------------------------------- 400 invalid_request_error

@differs("malformed JSON is answered 500 server_error (the JSON parser's exception)")
def test_malformed_json(tiny_server):
    r = requests.post(tiny_server.url + "/v1/chat/completions", data=b'{"messages": [{"role": "user", ',
                      headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert_error(r, 400, "invalid_request_error", any_words=("json", "parse"))


BAD_PARAMS = [
    ({"temperature": "hot"}, "temperature"),
    ({"max_tokens": -5}, "max_tokens"),
    ({"max_tokens": "ten"}, "max_tokens"),
    ({"top_k": "many"}, "top_k"),
    ({"top_p": "high"}, "top_p"),
]


@pytest.mark.parametrize("extra,field", BAD_PARAMS, ids=[f"{k}={v!r}" for (d, _) in BAD_PARAMS for k, v in d.items()])
def test_bad_parameter(tiny_server, extra, field):
    r = chat(tiny_server, {"messages": user("hi"), **extra})
    assert_error(r, 400, "invalid_request_error", all_words=(field,))


@pytest.mark.parametrize("body", [{"temperature": 0}, {"messages": "hi"}], ids=["missing", "not-array"])
def test_bad_messages(tiny_server, body):
    assert_error(chat(tiny_server, body), 400, "invalid_request_error", all_words=("messages",))


def test_undecodable_base64(tiny_server):
    r = chat(tiny_server, {"messages": user([image_part("data:image/png;base64,!!!not*base64%%%"), text_part("hi")])})
    assert_error(r, 400, "invalid_request_error", any_words=("image", "base64"))


@pytest.mark.parametrize("url", [data_uri(b"hello world, this is certainly not an image" * 4),
                                 b64(b"GIF89a but then garbage, not an image at all" * 4)],
                         ids=["data-uri", "raw-base64"])
def test_bytes_not_an_image(tiny_server, url):
    r = chat(tiny_server, {"messages": user([image_part(url), text_part("hi")])})
    assert_error(r, 400, "invalid_request_error", all_words=("image",))


def test_unknown_content_part_type(tiny_server):
    r = chat(tiny_server, {"messages": user([{"type": "foo_bar", "foo_bar": {"x": 1}}, text_part("hi")])})
    assert_error(r, 400, "invalid_request_error", any_words=("type", "foo_bar"))


def test_error_after_error_server_still_works(tiny_server):
    chat(tiny_server, {"messages": user([image_part("data:image/png;base64,AAAA"), text_part("hi")])})
    r = chat(tiny_server, {"messages": user("hi"), "max_tokens": 2})
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- 404

@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("POST", "/v1/nope"), ("GET", "/v1/chat/completion")])
def test_unknown_route(tiny_server, method, path):
    r = requests.request(method, tiny_server.url + path, json={} if method == "POST" else None, timeout=10)
    assert_error(r, 404, "not_found_error", all_words=("not found",))


# ---------------------------------------------------------------- context limits

def test_prompt_over_context(keyed):
    r = chat(keyed, {"messages": user("hello world " * 200), "max_tokens": 4}, headers=AUTH)
    err = assert_error(r, 400, "exceed_context_size_error", any_words=("context",))
    assert err["n_ctx"] == 256, err
    assert isinstance(err["n_prompt_tokens"], int) and err["n_prompt_tokens"] > 256, err


def test_prompt_over_context_streaming_is_400_not_200(keyed):
    r = chat(keyed, {"messages": user("hello world " * 200), "max_tokens": 4, "stream": True}, headers=AUTH)
    err = assert_error(r, 400, "exceed_context_size_error")
    assert err["n_ctx"] == 256 and err["n_prompt_tokens"] > 256, err


@differs("max_tokens beyond the context is accepted and generation stops at the context end (finish_reason "
         "length)")
def test_max_tokens_cannot_fit(keyed):
    r = chat(keyed, {"messages": user("hi"), "max_tokens": 1000}, headers=AUTH)
    assert_error(r, 400, ("invalid_request_error", "exceed_context_size_error"), all_words=("--ctx-size",))


def test_max_tokens_that_fits(keyed):
    r = chat(keyed, {"messages": user("hi"), "max_tokens": 8, "temperature": 0}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] <= 8


@ours_only("llama-server answers 500 server_error 'image input is not supported - hint: ... provide the mmproj'")
def test_image_without_mmproj(keyed):
    r = chat(keyed, {"messages": user([img(1), text_part("hi")]), "max_tokens": 2}, headers=AUTH)
    assert_error(r, 400, "invalid_request_error", all_words=("--mmproj",))


# ---------------------------------------------------------------- the keyed, text-only server's endpoints

def test_metrics_disabled_501(keyed):
    r = requests.get(keyed.url + "/metrics", headers=AUTH, timeout=10)
    assert_error(r, 501, "not_supported_error", all_words=("--metrics",))


def test_models_id_is_file_name_without_alias(keyed):
    r = requests.get(keyed.url + "/v1/models", headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    ids = [m["id"] for m in r.json()["data"]]
    assert len(ids) == 1 and os.path.basename(ids[0]) in ("tiny-text-q8_0.gguf", "tiny-text-q8_0"), ids


def test_props_text_only_server(keyed):
    r = requests.get(keyed.url + "/props", headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["modalities"]["vision"] is False
    assert p["total_slots"] == 1
    dgs = p["default_generation_settings"]
    assert p.get("n_ctx", dgs.get("n_ctx")) == 256
    params = dgs.get("params", dgs)
    assert params["temperature"] == pytest.approx(0.25)
    assert params["top_k"] == 7


# ---------------------------------------------------------------- 401

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2VrcmV0"}],
                         ids=["missing", "wrong", "not-bearer"])
def test_api_key_required(keyed, headers):
    r = chat(keyed, {"messages": user("hi"), "max_tokens": 2}, headers=headers)
    assert_error(r, 401, "authentication_error", all_words=("api key",))


def test_api_key_accepted(keyed):
    r = chat(keyed, {"messages": user("hi"), "max_tokens": 2}, headers=AUTH)
    assert r.status_code == 200, r.text


def test_models_needs_key(keyed):
    assert_error(requests.get(keyed.url + "/v1/models", timeout=10), 401, "authentication_error")


def test_health_public_with_api_key(keyed):
    r = requests.get(keyed.url + "/health", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


# ---------------------------------------------------------------- CORS

def test_cors_preflight_before_auth(keyed):
    r = requests.options(keyed.url + "/v1/chat/completions", timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert r.status_code in (200, 204), r.text
    assert r.headers.get("Access-Control-Allow-Origin") in (ORIGIN, "*")
    assert "POST" in r.headers.get("Access-Control-Allow-Methods", "").upper()
    allow = r.headers.get("Access-Control-Allow-Headers", "").lower()
    assert allow == "*" or ("content-type" in allow and "authorization" in allow), allow


def test_cors_on_error_responses(keyed, tiny_server):
    r401 = chat(keyed, {"messages": user("hi")}, headers={"Origin": ORIGIN})
    assert r401.status_code == 401
    assert r401.headers.get("Access-Control-Allow-Origin") in (ORIGIN, "*")
    r400 = chat(tiny_server, {"messages": user("hi"), "temperature": "hot"}, headers={"Origin": ORIGIN})
    assert r400.status_code == 400
    assert r400.headers.get("Access-Control-Allow-Origin") in (ORIGIN, "*")


def test_cors_on_normal_responses(tiny_server):
    h = requests.get(tiny_server.url + "/health", headers={"Origin": ORIGIN}, timeout=10)
    assert h.headers.get("Access-Control-Allow-Origin") in (ORIGIN, "*")
    r = chat(tiny_server, {"messages": user("hi"), "max_tokens": 2}, headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert r.headers.get("Access-Control-Allow-Origin") in (ORIGIN, "*")
    s = chat(tiny_server, {"messages": user("hi"), "max_tokens": 2, "stream": True}, headers={"Origin": ORIGIN})
    assert s.status_code == 200
    assert s.headers.get("Access-Control-Allow-Origin") in (ORIGIN, "*")


# ---------------------------------------------------------------- ours only: request limits

def big_body(n_bytes):
    return json.dumps({"messages": user("a" * n_bytes), "max_tokens": 1}).encode()


def check_413(status, body):
    assert status == 413, (status, body[:300])
    if body:  # the connection may also be closed right after the status line and headers
        err = json.loads(body)["error"]
        assert err["code"] == 413 and isinstance(err.get("type"), str), err
        assert any(w in err["message"].lower() for w in ("--max-body", "too large")), err


@ours_only("--max-body (llama-server's limit is a fixed 100 MB)")
def test_body_over_max_body_413(limits):
    body = big_body(400_000)
    status, _, resp, closed = raw_http(limits.port, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                                       "Connection: close", body)
    assert not closed, "connection closed without a 413"
    check_413(status, resp)
    assert requests.get(limits.url + "/health", timeout=10).status_code == 200


@ours_only("--max-body default 32 MiB (llama-server: 100 MB)")
def test_default_max_body_32mib_413(tiny_server):
    body = big_body(33 * 1024 * 1024)
    status, _, resp, closed = raw_http(tiny_server.port, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                                       "Connection: close", body, timeout=60)
    assert not closed, "connection closed without a 413"
    check_413(status, resp)


@ours_only("--max-images")
def test_max_images(limits):
    ok = chat(limits, {"messages": user([img(1), img(2), text_part("two")])})
    assert ok.status_code == 200, ok.text
    r = chat(limits, {"messages": [{"role": "user", "content": [img(1), img(2), text_part("three")]},
                                   {"role": "assistant", "content": "ok"},
                                   {"role": "user", "content": [img(3), text_part("?")]}]})
    assert_error(r, 400, "invalid_request_error", all_words=("--max-images",))


@ours_only("--max-images default 16")
def test_default_max_images_16(tiny_server):
    parts = [image_part(data_uri(image_bytes(16, 16, seed=1)))] * 17 + [text_part("many")]
    r = chat(tiny_server, {"messages": user(parts), "max_tokens": 1})
    assert_error(r, 400, "invalid_request_error", all_words=("--max-images",))


@ours_only("--max-image-pixels")
def test_max_image_pixels(limits):
    r = chat(limits, {"messages": user([img(5, 400, 300), text_part("big")])})  # 120000 > 100000 pixels
    assert_error(r, 400, "invalid_request_error", all_words=("--max-image-pixels",))
    ok = chat(limits, {"messages": user([img(6, 300, 300), text_part("fits")])})  # 90000 pixels
    assert ok.status_code == 200, ok.text


@ours_only("--max-tiles")
def test_max_tiles_bounds_image_positions(limits):
    base = chat(limits, {"messages": user([text_part("What?")])}).json()["usage"]["prompt_tokens"]
    r = chat(limits, {"messages": user([img(7, 320, 240), text_part("What?")])})  # 13 tiles unbounded
    assert r.status_code == 200, r.text
    extra = r.json()["usage"]["prompt_tokens"] - base
    assert 64 <= extra <= 3 * 64 + 48, extra  # at most 2 tiles (+ the global image) and their markers


@ours_only("--body-timeout")
def test_body_timeout(limits):
    t0 = time.time()
    status, _, _, closed = raw_http(limits.port, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Content-Type: application/json\r\nContent-Length: 1000",
                                    b'{"messages": [', timeout=12)
    elapsed = time.time() - t0
    assert elapsed < 10, f"no answer {elapsed:.1f} s into a 2 s body timeout"
    assert closed or status == 408, status
    assert requests.get(limits.url + "/health", timeout=10).status_code == 200


# ---------------------------------------------------------------- ours only: the queue

@ours_only("--queue (llama-server queues without bound: no 503)")
def test_queue_full_503(server_factory):
    server = server_factory(pair="tiny", vision=False, args=["-np", "1", "--queue", "1", "-c", "8192"])
    long = requests.post(server.url + "/v1/chat/completions", stream=True, timeout=(5, 60), json={
        "messages": user("hi"), "max_tokens": 8000, "temperature": 0, "stream": True, "ignore_eos": True})
    queued = {}
    try:
        assert long.status_code == 200
        lines = long.iter_lines()
        next(lines)  # the slot is busy generating

        def waiter():
            queued["r"] = chat(server, {"messages": user("queued"), "max_tokens": 2})

        t = threading.Thread(target=waiter, daemon=True)
        t.start()
        time.sleep(0.5)  # the second request is now waiting in the queue (1 place)
        assert t.is_alive(), f"the queued request was answered already: {queued}"
        r = chat(server, {"messages": user("one too many"), "max_tokens": 2}, timeout=10)
        assert_error(r, 503, "unavailable_error")
        assert r.headers.get("Retry-After", "").strip().isdigit(), r.headers
    finally:
        long.close()  # a client disconnect cancels the long generation; the queued request then runs
    t.join(60)
    assert not t.is_alive(), "queued request never answered after the slot was freed"
    assert queued["r"].status_code == 200, queued["r"].text
