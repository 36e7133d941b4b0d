"""The real-time camera page (`GET /`, Sources/SmolVLMServer/WebcamPage.swift) in headless Chromium.

Chromium's fake camera plays a small synthetic 640x480 clip and the page runs against the server
the conftest fixture starts. Our server serves the page itself; llama-server serves its own UI at
`/`, so with SMOLVLM_SERVER_KIND=llama-server the page is extracted from the Swift file (one
source of truth) and opened from a file:// URL with the base-URL field pointed at the server. The
API-key test opens it from a file for both servers: cross-origin requests, as webcam-demo users
make them, so the CORS handling is checked too.

    SMOLVLM_SERVER_KIND=llama-server SMOLVLM_SERVER_BIN=/root/llama/build/bin/llama-server \
        python3 -m pytest -s Tests/Server/test_webcam_page.py

SMOLVLM_SCREENSHOT_DIR picks where the screenshot goes (default: the test's tmp_path);
SMOLVLM_WEBCAM_PAIR overrides the model pair of the frame-loop test.
"""
import base64
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from conftest import KIND, ROOT

PAGE_SWIFT = ROOT / "Sources" / "SmolVLMServer" / "WebcamPage.swift"
WIDTH, HEIGHT = 640, 480
INTERVAL_MS = 250
MAX_TOKENS = 16  # the page's field; keeps each answer short on 2 cores
INSTRUCTION = "Describe this frame in a few words."
ERROR_PREFIXES = ("Server error", "Request failed", "Camera unavailable")  # the page's status line

# Our server with --max-tiles 1 encodes one 512x512 tile per frame. llama-server ignores that
# flag (conftest strips it) and slices a 640x480 frame into 12 tiles + overview with the 256M
# pair, far too slow for a real-time loop on 2 cores, so against it the tiny pair is the default:
# the page's behaviour does not depend on the model.
PAIR = os.environ.get("SMOLVLM_WEBCAM_PAIR", "tiny" if KIND == "llama-server" else "256m")
SERVER_ARGS = ["--max-tiles", "1"]


def page_html():
    """WebcamPage.html as Swift builds it: the raw literal minus the closing delimiter's indent."""
    source = PAGE_SWIFT.read_text(encoding="utf-8")
    match = re.search(r'static let html = #"""\n(.*?)\n([ \t]*)"""#', source, re.S)
    assert match, f"no #\"\"\" ... \"\"\"# literal in {PAGE_SWIFT}"
    body, indent = match.groups()
    lines = body.split("\n")
    for number, line in enumerate(lines, 1):
        # Swift rejects a non-blank line that lacks the closing delimiter's indentation.
        assert not line.strip() or line.startswith(indent), f"line {number} of the literal is under-indented"
    assert "\\#" not in body, "the raw literal must not contain \\# (it would be an escape)"
    return "\n".join(line[len(indent):] for line in lines)


def write_y4m(path, frames=12):
    """A 640x480 4:2:0 YUV4MPEG2 clip: colour ramps with a white square that moves each frame."""
    y_base = np.tile(np.linspace(40, 200, WIDTH, dtype=np.float32), (HEIGHT, 1))
    cu = np.tile(np.linspace(60, 196, WIDTH // 2, dtype=np.float32), (HEIGHT // 2, 1))
    cv = np.tile(np.linspace(196, 60, HEIGHT // 2, dtype=np.float32)[:, None], (1, WIDTH // 2))
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            y = y_base.copy()
            x0, y0 = 40 + i * 40, 120 + (i % 4) * 40
            y[y0:y0 + 160, x0:x0 + 160] = 235
            u, v = cu.copy(), cv.copy()
            u[y0 // 2:(y0 + 160) // 2, x0 // 2:(x0 + 160) // 2] = 128
            v[y0 // 2:(y0 + 160) // 2, x0 // 2:(x0 + 160) // 2] = 128
            f.write(b"FRAME\n")
            for plane in (y, u, v):
                f.write(plane.clip(0, 255).astype(np.uint8).tobytes())


def jpeg_size(data):
    """(width, height) from a JPEG's first SOFn marker."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + length
    raise AssertionError("no SOF marker in the JPEG")


@pytest.fixture
def browser(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        reason = f"headless Chromium needed: chromium={chromium}, chromedriver={chromedriver} (apt install chromium chromium-driver)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium missing (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    clip = tmp_path / "camera.y4m"
    write_y4m(clip)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={clip}", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


# Wraps window.fetch to record every request the page makes: in-flight count (a request lasts
# until its body has been read or it failed), start times, statuses, answers, the last request.
INSTALL_FETCH_LOG = """
const log = window.__webcamLog = {starts: [], inFlight: 0, maxInFlight: 0, statuses: [], aborted: 0,
                                  failures: [], contents: [], last: null};
const realFetch = window.fetch.bind(window);
window.fetch = async (input, init = {}) => {
  log.starts.push(performance.now());
  log.inFlight += 1;
  log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
  log.last = {url: String(input), method: init.method, headers: init.headers, body: init.body};
  let settled = false;
  const settle = (err) => {
    if (err && err.name === "AbortError") log.aborted += 1;
    else if (err) log.failures.push(String(err));
    if (!settled) { settled = true; log.inFlight -= 1; }
  };
  let response;
  try { response = await realFetch(input, init); } catch (err) { settle(err); throw err; }
  log.statuses.push(response.status);
  for (const name of ["json", "text"]) {
    const read = response[name].bind(response);
    response[name] = () => read().then((value) => {
      if (name === "json") {
        const c = value && value.choices && value.choices[0] && value.choices[0].message;
        log.contents.push(c ? c.content : null);
      }
      settle();
      return value;
    }, (err) => { settle(err); throw err; });
  }
  return response;
};
"""

SNAPSHOT = """
const text = (id) => document.getElementById(id).textContent;
const log = window.__webcamLog;
return {frames: text("frames"), response: text("response"), latency: text("latency"),
        median: text("median"), status: text("status"), button: text("startButton"),
        starts: log.starts, inFlight: log.inFlight, maxInFlight: log.maxInFlight,
        statuses: log.statuses, aborted: log.aborted, failures: log.failures, contents: log.contents};
"""


def open_page(driver, server, tmp_path, from_file=False):
    """Loads the page from the server, or (llama-server, or from_file) from a file:// copy."""
    from selenium.webdriver.common.by import By

    if from_file or KIND == "llama-server":
        local = tmp_path / "webcam.html"
        local.write_text(page_html(), encoding="utf-8")
        driver.get(local.as_uri())
        assert driver.find_element(By.ID, "baseURL").get_attribute("value") == "http://localhost:8080"
        field = driver.find_element(By.ID, "baseURL")
        field.clear()
        field.send_keys(server.url)
    else:
        driver.get(server.url + "/")
        assert driver.find_element(By.ID, "baseURL").get_attribute("value") == server.url


def describe(driver, server):
    try:
        state = driver.execute_script(SNAPSHOT)
    except Exception as err:  # the page itself may be what broke
        state = f"(no snapshot: {err})"
    return f"page state: {state}\nserver log tail:\n{server.output()[-3000:]}"


def test_webcam_page_streams_frames_one_at_a_time(server_factory, browser, tmp_path):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    server = server_factory(pair=PAIR, args=SERVER_ARGS)
    driver = browser
    open_page(driver, server, tmp_path)
    by_id = lambda element_id: driver.find_element(By.ID, element_id)  # noqa: E731

    # The page asks for the camera on load; the fake device plays our clip at its own size.
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "return document.getElementById('video').videoWidth") > 0)
    assert driver.execute_script("const v = document.getElementById('video'); return [v.videoWidth, v.videoHeight]") \
        == [WIDTH, HEIGHT]
    assert by_id("instruction").get_attribute("value") == "What do you see?"
    assert Select(by_id("interval")).first_selected_option.get_attribute("value") == "500"
    assert by_id("maxTokens").get_attribute("value") == "100"
    assert by_id("frames").text == "0"

    by_id("instruction").clear()
    by_id("instruction").send_keys(INSTRUCTION)
    Select(by_id("interval")).select_by_value(str(INTERVAL_MS))
    by_id("maxTokens").clear()
    by_id("maxTokens").send_keys(str(MAX_TOKENS))
    driver.execute_script(INSTALL_FETCH_LOG)

    started = time.time()
    by_id("startButton").click()
    assert by_id("startButton").text == "Stop"

    def answered(d):
        s = d.execute_script(SNAPSHOT)
        if s["status"].startswith(ERROR_PREFIXES) or s["failures"]:
            raise AssertionError(f"the page reports an error: {s['status']!r}, {s['failures']}")
        ready = (re.fullmatch(r"\d+", s["frames"]) and int(s["frames"]) >= 3
                 and re.search(r"\d", s["latency"]) and any(s["contents"]))
        return s if ready else False

    try:
        state = WebDriverWait(driver, 90, poll_frequency=0.2).until(answered)
    except TimeoutException:
        pytest.fail(f"fewer than 3 answered frames within 90 s\n{describe(driver, server)}")
    running_for = time.time() - started

    # What the page shows is the server's latest answer, counted and timed.
    assert state["response"] == (state["contents"][-1] or ""), state
    assert int(state["frames"]) == len(state["contents"]), state
    assert re.fullmatch(r"\d+ ms", state["latency"]), state["latency"]
    assert re.fullmatch(r"\d+ ms", state["median"]), state["median"]
    assert not state["status"].startswith(ERROR_PREFIXES), state["status"]
    assert all(code == 200 for code in state["statuses"]), state["statuses"]

    # No pile-up: one request at a time, and the next frame leaves at least an interval after
    # the previous one (less the frame's capture time, hence the slack).
    assert state["maxInFlight"] == 1, state
    gaps = [b - a for a, b in zip(state["starts"], state["starts"][1:])]
    assert all(gap >= 0.8 * INTERVAL_MS for gap in gaps), gaps

    # The request is exactly the webcam demo's.
    last = driver.execute_script("return window.__webcamLog.last")
    assert last["url"] == server.url + "/v1/chat/completions"
    assert last["method"] == "POST"
    assert last["headers"] == {"Content-Type": "application/json"}
    body = json.loads(last["body"])
    assert list(body) == ["max_tokens", "messages"]
    assert body["max_tokens"] == MAX_TOKENS
    url = body["messages"][0]["content"][1]["image_url"]["url"]
    assert body == {"max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": [
        {"type": "text", "text": INSTRUCTION}, {"type": "image_url", "image_url": {"url": url}}]}]}
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    assert jpeg_size(base64.b64decode(url[len(prefix):])) == (WIDTH, HEIGHT)  # the full video size

    # Stop aborts the request in flight and no further frame is sent or counted.
    busy, sent, frames = driver.execute_script("""
        const log = window.__webcamLog, busy = log.inFlight, sent = log.starts.length;
        document.getElementById("startButton").click();
        return [busy, sent, document.getElementById("frames").textContent];""")
    time.sleep(1.2)
    after = driver.execute_script(SNAPSHOT)
    assert after["button"] == "Start"
    assert after["status"] == "Stopped."
    assert after["frames"] == frames, (frames, after["frames"])
    assert len(after["starts"]) == sent, "a request was sent after Stop"
    assert after["inFlight"] == 0, after
    if busy:
        assert after["aborted"] >= 1, "Stop left the request in flight running"
    assert after["maxInFlight"] == 1
    script_errors = [e["message"] for e in driver.get_log("browser") if e.get("source") == "javascript"]
    assert not script_errors, script_errors

    shots = Path(os.environ.get("SMOLVLM_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"webcam-page-{KIND}.png"
    assert driver.save_screenshot(str(shot)), "screenshot failed"
    latencies = [int(x) for x in re.findall(r"\d+", after["latency"] + " " + after["median"])]
    print(f"\nwebcam page ({KIND}, pair {PAIR}): {after['frames']} frames in {running_for:.1f} s, "
          f"last {latencies[0]} ms, median {latencies[1]} ms, stopped with a request in flight: {bool(busy)}, "
          f"non-empty answers: {sum(1 for c in after['contents'] if c)}/{len(after['contents'])}, "
          f"answer: {after['response'][:60]!r}")
    print(f"screenshot: {shot}")


def test_root_serves_the_webcam_page(server_factory):
    if KIND == "llama-server":
        pytest.skip("llama-server serves its own web UI at /")
    # Public even with an API key: the page is where the key gets typed in.
    server = server_factory(pair="tiny", args=["--api-key", "sekret"])
    response = requests.get(server.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.content.decode("utf-8") == page_html()


def test_webcam_page_sends_the_api_key(server_factory, browser, tmp_path):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    # Opened from a file, as webcam-demo users do: the requests are cross-origin (Origin: null)
    # with an Authorization header, so this also checks the CORS preflight and that error
    # responses carry Access-Control-Allow-Origin (else the page sees only "Failed to fetch").
    server = server_factory(pair="tiny", args=["--api-key", "sekret", "--max-tiles", "1"])
    driver = browser
    open_page(driver, server, tmp_path, from_file=True)
    by_id = lambda element_id: driver.find_element(By.ID, element_id)  # noqa: E731
    Select(by_id("interval")).select_by_value("100")
    by_id("maxTokens").clear()
    by_id("maxTokens").send_keys("4")
    by_id("apiKey").send_keys("wrong")
    driver.execute_script(INSTALL_FETCH_LOG)
    by_id("startButton").click()
    try:
        WebDriverWait(driver, 30, poll_frequency=0.1).until(
            lambda d: by_id("status").text.startswith("Server error: 401 - ") or by_id("status").text.startswith(
                "Request failed"))
        assert by_id("status").text.startswith("Server error: 401 - "), by_id("status").text
        # The fields are read for every frame, so fixing the key while running is enough.
        by_id("apiKey").clear()
        by_id("apiKey").send_keys("sekret")
        WebDriverWait(driver, 60, poll_frequency=0.2).until(lambda d: int(by_id("frames").text) >= 1)
    except TimeoutException:
        pytest.fail(f"no 401 and then an answer\n{describe(driver, server)}")
    last = driver.execute_script("return window.__webcamLog.last")
    by_id("startButton").click()
    assert last["headers"] == {"Content-Type": "application/json", "Authorization": "Bearer sekret"}
    state = driver.execute_script(SNAPSHOT)
    assert 401 in state["statuses"] and 200 in state["statuses"], state["statuses"]
    assert state["maxInFlight"] == 1


def test_webcam_page_waits_out_503_retry_after(browser):
    """503 (llama-server's "Loading model") is retried after Retry-After, not at the interval.

    Neither server can be made to answer 503 on demand, so a stub serves the page and the API.
    """
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    html = page_html().encode("utf-8")
    posts, lock = [], threading.Lock()
    busy = {"now": 0, "max": 0}

    class Stub(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body, content_type, headers=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # Stop aborted this request: expected

        def do_GET(self):
            self.reply(200, html, "text/html; charset=utf-8")

        def do_POST(self):
            with lock:
                posts.append(time.monotonic())
                n = len(posts)
                busy["now"] += 1
                busy["max"] = max(busy["max"], busy["now"])
            try:
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(0.05)
                if n == 1:
                    body = b'{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}'
                    self.reply(503, body, "application/json; charset=utf-8", [("Retry-After", "2")])
                else:
                    body = json.dumps({"choices": [{"index": 0, "finish_reason": "stop",
                                                    "message": {"role": "assistant", "content": f"answer {n}"}}]})
                    self.reply(200, body.encode(), "application/json; charset=utf-8")
            finally:
                with lock:
                    busy["now"] -= 1

    stub = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    driver = browser
    try:
        url = f"http://127.0.0.1:{stub.server_address[1]}"
        driver.get(url + "/")
        by_id = lambda element_id: driver.find_element(By.ID, element_id)  # noqa: E731
        assert by_id("baseURL").get_attribute("value") == url
        Select(by_id("interval")).select_by_value("100")
        by_id("startButton").click()
        try:
            status = WebDriverWait(driver, 20, poll_frequency=0.05).until(
                lambda d: by_id("status").text.startswith("Server error: 503 - ") and by_id("status").text)
            assert '"Loading model"' in status and "retrying in 2.0 s" in status, status
            WebDriverWait(driver, 20, poll_frequency=0.1).until(lambda d: int(by_id("frames").text) >= 3)
        except TimeoutException:
            pytest.fail(f"no 503 and then answers: status {by_id('status').text!r}, {len(posts)} requests")
        assert by_id("response").text.startswith("answer ")
        by_id("startButton").click()
    finally:
        stub.shutdown()
        stub.server_close()
    assert posts[1] - posts[0] >= 1.9, f"retried {posts[1] - posts[0]:.2f} s after a 503 with Retry-After: 2"
    assert all(b - a >= 0.08 for a, b in zip(posts[1:], posts[2:])), "frames closer than the 100 ms interval"
    assert busy["max"] == 1
