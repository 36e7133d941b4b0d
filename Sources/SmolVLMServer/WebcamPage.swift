/// The real-time camera page served at `GET /`: a self-contained HTML page (inline CSS and
/// JavaScript, no external resources) in the spirit of smolvlm-realtime-webcam. It shows the
/// camera, and while running posts one frame at a time to `{base}/v1/chat/completions` with the
/// webcam demo's exact request body, showing each answer and its latency. Unlike the original
/// (`setInterval`), it sends the next frame only after the previous answer came back, so a slow
/// server never piles up requests. The base URL defaults to the page's own origin, so the same
/// page also works opened from a file against any llama-server-compatible server.
///
/// Element ids (`video`, `instruction`, `interval`, `baseURL`, `maxTokens`, `apiKey`,
/// `startButton`, `response`, `latency`, `frames`, `status`) are relied on by
/// `Tests/Server/test_webcam_page.py`, which also extracts the page from this file to test it
/// against llama-server: keep the literal a plain raw string (no interpolation).
enum WebcamPage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>SmolVLM real-time camera</title>
    <style>
      :root {
        color-scheme: light dark;
        --fg: #111827; --bg: #f9fafb; --panel: #ffffff; --muted: #6b7280;
        --border: #d1d5db; --accent: #2563eb; --stop: #dc2626; --error: #b91c1c;
      }
      @media (prefers-color-scheme: dark) {
        :root {
          --fg: #f3f4f6; --bg: #111827; --panel: #1f2937; --muted: #9ca3af;
          --border: #374151; --accent: #3b82f6; --stop: #ef4444; --error: #f87171;
        }
      }
      * { box-sizing: border-box; }
      body {
        margin: 0; color: var(--fg); background: var(--bg);
        font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
      }
      main { max-width: 1100px; margin: 0 auto; padding: 16px; display: grid; gap: 16px; }
      h1 { margin: 0; font-size: 1.35rem; }
      h2 { margin: 0 0 8px; font-size: 1rem; color: var(--muted); font-weight: 600; }
      .layout { display: grid; gap: 16px; grid-template-columns: minmax(0, 3fr) minmax(260px, 2fr); align-items: start; }
      @media (max-width: 760px) { .layout { grid-template-columns: 1fr; } }
      video {
        display: block; width: 100%; aspect-ratio: 4 / 3; object-fit: contain;
        background: #000; border-radius: 8px;
      }
      .panel { background: var(--panel); border: 1px solid var(--border); border-radius: 8px; padding: 14px; }
      form { display: grid; gap: 10px; }
      label { display: grid; gap: 4px; font-weight: 600; font-size: 0.9rem; }
      .pair { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
      input, select, textarea, button { font: inherit; color: inherit; }
      input, select, textarea {
        width: 100%; padding: 6px 8px; border: 1px solid var(--border); border-radius: 6px;
        background: var(--bg); font-weight: 400;
      }
      textarea { resize: vertical; }
      button {
        padding: 10px; border: 0; border-radius: 6px; cursor: pointer;
        background: var(--accent); color: #fff; font-weight: 600;
      }
      button.running { background: var(--stop); }
      :focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
      #response { margin: 0; min-height: 3em; font-size: 1.1rem; white-space: pre-wrap; overflow-wrap: anywhere; }
      #response:empty::before { content: "No answer yet."; color: var(--muted); }
      .stats { margin: 10px 0 0; color: var(--muted); font-variant-numeric: tabular-nums; }
      .stats span { color: var(--fg); font-weight: 600; }
      #status { margin: 6px 0 0; min-height: 1.45em; color: var(--muted); overflow-wrap: anywhere; }
      #status.error { color: var(--error); }
    </style>
    </head>
    <body>
    <main>
      <h1>SmolVLM real-time camera</h1>
      <div class="layout">
        <video id="video" autoplay muted playsinline aria-label="Camera preview"></video>
        <form class="panel" id="settings" aria-label="Settings" novalidate>
          <label>Instruction
            <textarea id="instruction" rows="3">What do you see?</textarea>
          </label>
          <div class="pair">
            <label>Interval
              <select id="interval">
                <option value="100">100 ms</option>
                <option value="250">250 ms</option>
                <option value="500" selected>500 ms</option>
                <option value="1000">1 s</option>
                <option value="2000">2 s</option>
              </select>
            </label>
            <label>Max tokens
              <input id="maxTokens" type="number" min="1" step="1" value="100" inputmode="numeric">
            </label>
          </div>
          <label>Server URL
            <input id="baseURL" type="url" spellcheck="false" autocomplete="url">
          </label>
          <label>API key (optional)
            <input id="apiKey" type="password" autocomplete="off">
          </label>
          <button id="startButton" type="button">Start</button>
        </form>
      </div>
      <section class="panel" aria-labelledby="answer-heading">
        <h2 id="answer-heading">Answer</h2>
        <p id="response" aria-live="polite"></p>
        <p class="stats">
          Latency <span id="latency">–</span>
          · median <span id="median">–</span>
          · frames <span id="frames">0</span>
        </p>
        <p id="status" role="status"></p>
      </section>
    </main>
    <canvas id="canvas" hidden></canvas>
    <script>
    "use strict";

    const $ = (id) => document.getElementById(id);
    const video = $("video"), canvas = $("canvas"), settings = $("settings");
    const instruction = $("instruction"), interval = $("interval"), maxTokens = $("maxTokens");
    const baseURL = $("baseURL"), apiKey = $("apiKey"), startButton = $("startButton");
    const responseText = $("response"), latency = $("latency"), median = $("median");
    const frames = $("frames"), statusLine = $("status");

    // Served by the model server itself, the page talks to its own origin; opened from a file
    // it falls back to llama-server's default address.
    baseURL.value = /^https?:$/.test(location.protocol) ? location.origin : "http://localhost:8080";

    const DEFAULT_MAX_TOKENS = 100;
    // The median follows the recent frames only, so it reflects the current scene and settings.
    const MEDIAN_WINDOW = 50;
    // Bounds a server's Retry-After so a bad header cannot silently park the loop for hours.
    const MAX_RETRY_MS = 60000;

    let current = null; // the running loop's {active, controller}; null when stopped
    let camera = null; // resolves to whether the camera is on
    let answered = 0;
    let recent = [];

    function setStatus(text, isError = false) {
      statusLine.textContent = text;
      statusLine.classList.toggle("error", isError);
    }

    async function initCamera() {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        setStatus("Camera unavailable: browsers only allow it on https:// or http://localhost pages.", true);
        return false;
      }
      try {
        video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
        setStatus("Camera ready.");
        return true;
      } catch (err) {
        setStatus(`Camera unavailable: ${err.name}: ${err.message}`, true);
        return false;
      }
    }

    function videoReady() {
      if (video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA && video.videoWidth > 0) {
        return Promise.resolve();
      }
      return new Promise((resolve) => video.addEventListener("loadeddata", resolve, { once: true }));
    }

    function captureFrame() {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      return canvas.toDataURL("image/jpeg", 0.8);
    }

    function maxTokensValue() {
      const n = Number.parseInt(maxTokens.value, 10);
      return Number.isFinite(n) && n > 0 ? n : DEFAULT_MAX_TOKENS;
    }

    function ask(imageURL, signal) {
      // Only Content-Type (and Authorization when a key is set), exactly like the webcam demo:
      // any other header would need the server to allow it in a CORS preflight.
      const headers = { "Content-Type": "application/json" };
      const key = apiKey.value.trim();
      if (key) headers.Authorization = `Bearer ${key}`;
      const body = {
        max_tokens: maxTokensValue(),
        messages: [{
          role: "user",
          content: [
            { type: "text", text: instruction.value },
            { type: "image_url", image_url: { url: imageURL } },
          ],
        }],
      };
      let base = baseURL.value.trim().replace(/\/+$/, "");
      if (!/^https?:\/\//i.test(base)) base = `http://${base}`; // "localhost:8080" means http
      return fetch(`${base}/v1/chat/completions`, {
        method: "POST", headers, body: JSON.stringify(body), signal,
      });
    }

    // Retry-After is either delay-seconds or an HTTP date. Read cross-origin it is only visible
    // when the server exposes it (Access-Control-Expose-Headers); otherwise wait a second.
    function retryDelay(response) {
      const value = response.headers.get("Retry-After");
      let ms = 1000;
      if (value && /^\s*\d+\s*$/.test(value)) ms = Number(value) * 1000;
      else if (value && !Number.isNaN(Date.parse(value))) ms = Date.parse(value) - Date.now();
      return Math.min(Math.max(ms, 0), MAX_RETRY_MS);
    }

    // Resolves early when the run is stopped, so Stop never waits out an interval.
    function sleep(ms, signal) {
      return new Promise((resolve) => {
        if (signal.aborted || ms <= 0) return resolve();
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener("abort", done);
      });
    }

    function showAnswer(content, ms) {
      answered += 1;
      recent.push(ms);
      if (recent.length > MEDIAN_WINDOW) recent.shift();
      const sorted = [...recent].sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      const med = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
      responseText.textContent = content;
      latency.textContent = `${Math.round(ms)} ms`;
      median.textContent = `${Math.round(med)} ms`;
      frames.textContent = String(answered);
    }

    // One request at a time: the next frame is captured only after the previous answer is in,
    // so a server slower than the interval never piles up requests (the original demo's
    // setInterval does). The interval is the minimum time from one frame to the next.
    async function loop(run) {
      const { signal } = run.controller;
      while (run.active) {
        const started = performance.now();
        let wait = Number(interval.value);
        try {
          const image = captureFrame();
          const sent = performance.now();
          const response = await ask(image, signal);
          if (response.ok) {
            const data = await response.json();
            if (!run.active) break;
            const message = data && data.choices && data.choices[0] && data.choices[0].message;
            if (!message) throw new Error(`unexpected response: ${JSON.stringify(data).slice(0, 200)}`);
            showAnswer(message.content || "", performance.now() - sent);
            setStatus("Running.");
          } else {
            const text = await response.text();
            if (!run.active) break;
            if (response.status === 503) {
              const delay = retryDelay(response);
              setStatus(`Server error: ${response.status} - ${text} (retrying in ${(delay / 1000).toFixed(1)} s)`, true);
              await sleep(delay, signal);
              continue;
            }
            setStatus(`Server error: ${response.status} - ${text}`, true);
          }
        } catch (err) {
          if (!run.active) break;
          setStatus(`Request failed: ${err.message}`, true);
          // An unreachable server fails instantly; don't spin at the shortest interval.
          wait = Math.max(wait, 1000);
        }
        await sleep(wait - (performance.now() - started), signal);
      }
    }

    async function start() {
      const run = { active: true, controller: new AbortController() };
      current = run;
      startButton.textContent = "Stop";
      startButton.classList.add("running");
      answered = 0;
      recent = [];
      frames.textContent = "0";
      latency.textContent = "–";
      median.textContent = "–";
      // A failed camera is asked for again: the user may have granted access since.
      if (!(await camera)) camera = initCamera();
      if (!(await camera)) {
        if (current === run) stop(false);
        return;
      }
      if (!run.active) return;
      setStatus("Waiting for the camera…");
      await videoReady();
      if (!run.active) return;
      setStatus("Running.");
      loop(run);
    }

    function stop(updateStatus = true) {
      if (!current) return;
      current.active = false;
      current.controller.abort(); // cancels the in-flight request, if any
      current = null;
      startButton.textContent = "Start";
      startButton.classList.remove("running");
      if (updateStatus) setStatus("Stopped.");
    }

    startButton.addEventListener("click", () => (current ? stop() : start()));
    // The form only groups the fields; it is never sent.
    settings.addEventListener("submit", (event) => event.preventDefault());

    camera = initCamera();
    </script>
    </body>
    </html>
    """#
}
