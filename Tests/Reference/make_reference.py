#!/usr/bin/env python3
"""Regenerates every llama.cpp reference fixture the Swift tests compare against.

    python3 Tests/Reference/make_reference.py            # everything (models are built first)
    python3 Tests/Reference/make_reference.py --only tokenizer,smollm2

See Tests/Reference/README.md for the fixture format, what each case is for, and how to
rebuild llama-cpp-python. Output: Tests/Fixtures/<case>/.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixture_io import FixtureWriter, logit_record  # noqa: E402
from llama_reference import Model, apply_chat_template, llama_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
FIXTURES = ROOT / "Tests" / "Fixtures"

GEN_STEPS = 64
FULL_STEPS = [0, 1, 31, 63]

# Strings that exercise the smollm pre-tokenizer and byte-level BPE: ASCII, digits (split one
# by one), whitespace runs, newlines, code, emoji, CJK, accents, and special/marker tokens.
TOKENIZER_STRINGS = [
    "Hello world",
    " Hello  world ",
    "Hello, world! How are you?",
    "1234567890 and 3.14159, 1,000,000",
    "   leading spaces\tand\ttabs\n\nand newlines\r\n",
    "trailing spaces   ",
    "\n\n\n",
    "def f(x):\n    return x**2 + 1  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "I'm sure you'll see they've done it, we'd say.",
    "Emoji: 🙂👍🏽🇫🇷 and ❤️",
    "中文字符和日本語のテキスト、한국어",
    "Café crème brûlée, naïve façade, Ångström, Øresund",
    "Mixed: ÀÉÎÕÜ àéîõü ß ΣΑΣ σας",
    "<|im_start|>user\nWhat is in the image?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>User:<fake_token_around_image><global-img><image><fake_token_around_image>Describe.<end_of_utterance>\nAssistant:",
    "<row_1_col_1><row_6_col_6><image><image>",
    "User: <notatoken> <|im_start|<end_of_utterance",
    "https://example.com/path?query=1&b=2#frag",
    "'''\"\"\" ``` --- *** ___",
    "",
    " ",
    "a",
    "The quick brown fox jumps over the lazy dog. " * 4,
]

USER_QUESTION = "What is the capital of France?"
TEXT_PROMPT = "Write a short story about a robot who learns to paint."


def tokenizer_case(name: str, model_path: Path) -> None:
    m = Model(str(model_path))
    w = FixtureWriter(FIXTURES / name, "tokenization")
    cases = []
    for s in TOKENIZER_STRINGS:
        cases.append({"text": s,
                      "special": m.tokenize(s, parse_special=True),
                      "plain": m.tokenize(s, parse_special=False)})
    pieces = [m.piece(t).hex() for t in range(m.n_vocab)]
    w.set(model=model_path.name, llama=llama_info(), cases=cases)
    w.array("piece_check_ids", [i for i in range(0, m.n_vocab, 97)], "i32")
    w.set(piece_check_hex=[pieces[i] for i in range(0, m.n_vocab, 97)])
    w.close()
    print(f"{name}: {len(cases)} strings")


def generation_case(name: str, model_path: Path, prompt_text: str, note: str) -> None:
    m = Model(str(model_path))
    prompt = m.tokenize(prompt_text, parse_special=True)
    logits, chosen = m.greedy(prompt, GEN_STEPS)
    w = FixtureWriter(FIXTURES / name, "generation")
    w.set(model=model_path.name, llama=llama_info(), context=m.context_settings(), prompt_text=prompt_text,
          note=note, generated_text=b"".join(m.piece(t) for t in chosen).decode("utf-8", "replace"))
    w.array("prompt", prompt, "i32")
    logit_record(w, logits, chosen, FULL_STEPS)
    w.close()
    gaps = np.sort(logits, axis=1)
    print(f"{name}: {len(prompt)} prompt tokens, {GEN_STEPS} steps, logit std {logits.std(axis=1).mean():.3f}, "
          f"min top-2 gap {(gaps[:, -1] - gaps[:, -2]).min():.2e}")


# Every weight type the engine accepts, on the kquant preset (rows that are multiples of 256, so
# K-quant blocks in every matrix product). Each case holds llama.cpp's greedy decode (matrix ×
# vector products) and its logits for every position of the same sequence evaluated as one batch
# (matrix × matrix products; the length is not a multiple of 4, so llama.cpp's 4-row repacked
# GEMM and its 1-row GEMV both run).
KQUANT_TYPES = ["f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"]
KQUANT_STEPS = 16
KQUANT_PROBES = 256


def kquant_case(name: str, model_path: Path) -> None:
    m = Model(str(model_path))
    prompt = m.tokenize(chat_prompt(model_path, TEXT_PROMPT), parse_special=True)
    logits, chosen = m.greedy(prompt, KQUANT_STEPS)
    sequence = prompt + chosen[:-1]
    with m.context() as ctx:
        batch = m.decode_all(ctx, sequence)
    w = FixtureWriter(FIXTURES / name, "generation")
    w.set(model=model_path.name, llama=llama_info(), context=m.context_settings(), prompt_text=TEXT_PROMPT,
          note="decode: greedy steps one token at a time; prefill: prompt + the first 15 chosen tokens as one batch",
          generated_text=b"".join(m.piece(t) for t in chosen).decode("utf-8", "replace"))
    w.array("prompt", prompt, "i32")
    logit_record(w, logits, chosen, [0], probe_count=KQUANT_PROBES)
    logit_record(w, batch, sequence, [], probe_count=KQUANT_PROBES, prefix="prefill_")
    w.close()
    ref_std = logits.std(axis=1).mean()
    print(f"{name}: {len(prompt)} prompt tokens, {KQUANT_STEPS} steps, batch of {len(sequence)}, logit std {ref_std:.3f}")


# Models the tests need that CI cannot rebuild without llama.cpp are committed, small.
COMMITTED_MODELS = FIXTURES / "models"
COMMITTED = {"tiny-text-q4_k_m"}


def ensure_synthetic() -> None:
    """Builds the synthetic models the cases use (deterministic; see models/README.md) and
    copies the ones CI cannot rebuild into Tests/Fixtures/models/."""
    import shutil
    import subprocess
    script = ROOT / "models" / "make_synthetic.py"
    for preset, types in [("tiny", "f16,q8_0,q4_k_m"), ("smolvlm-256m", "f16,q8_0")]:
        subprocess.run([sys.executable, str(script), "--preset", preset, "--types", types], check=True)
    COMMITTED_MODELS.mkdir(parents=True, exist_ok=True)
    for name in COMMITTED:
        shutil.copyfile(MODELS / f"{name}.gguf", COMMITTED_MODELS / f"{name}.gguf")


def chat_prompt(model_path: Path, question: str) -> str:
    import gguf
    r = gguf.GGUFReader(str(model_path))
    template = r.fields["tokenizer.chat_template"].contents()
    return apply_chat_template(template, [("user", question)])


# ---------------------------------------------------------------------------------------------
# Vision (group "vision"): llama.cpp's mtmd on the synthetic SmolVLM pairs and the test images
# of Tests/Fixtures/images (Tests/Reference/make_test_images.py). See Tests/Reference/README.md.
# ---------------------------------------------------------------------------------------------

IMAGES = FIXTURES / "images"
VISION_QUESTION = "Describe this image."
VISION_STEPS = 32
VISION_N_CTX = 2048
VISION_N_BATCH = 2048   # llama-mtmd-cli's n_batch (common_params default), given to the mtmd helpers
VISION_N_UBATCH = 512
VISION_PROBES = 256     # probe ids per logit step (logit_record); fewer than text cases, for the size budget
TILE_SAMPLES = 4096     # ~values per preprocessed tile kept as a strided f32 sample
RGB_SAMPLES = 4096      # pixels of the decoded image kept as a strided sample
EMBD_SAMPLES = 1024     # seeded sample of each tile's projector output (256m)
BENCH_IMAGE = "motorcycle-1024x768"
NOPREPROC_IMAGE = "motorcycle-1024x768"
F16_256M_IMAGES = ["motorcycle-1024x768", "camera-gray-640x480", "rocket-400x1500"]
# (preset, text type, mmproj type, image stems or None for all, every tile's embeddings in full)
VISION_PAIRS = [
    ("tiny", "q8_0", "q8_0", None, True),
    ("tiny", "q8_0", "f16", None, True),
    ("smolvlm-256m", "q8_0", "q8_0", None, False),
    ("smolvlm-256m", "q8_0", "f16", F16_256M_IMAGES, False),
]
NOPREPROC_MMPROJ = {("tiny", "q8_0"), ("tiny", "f16"), ("smolvlm-256m", "q8_0")}  # the -nopreproc files built


def u32_checksum(u: np.ndarray) -> dict:
    """Order-sensitive checksum of unsigned words (as make_quant_fixtures.checksum does for f32 bit
    patterns): s1 = sum u, s2 = sum (i+1)*u, both mod 2^64, as decimal strings."""
    u = u.reshape(-1).astype(np.uint64)
    idx = np.arange(1, u.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return {"count": int(u.size), "sum": str(int(u.sum(dtype=np.uint64))),
                "weighted_sum": str(int((u * idx).sum(dtype=np.uint64)))}


def f32_checksum(values: np.ndarray) -> dict:
    return u32_checksum(np.ascontiguousarray(values, dtype="<f4").view("<u4"))


def u8_checksum(data: bytes) -> dict:
    import hashlib
    return {**u32_checksum(np.frombuffer(data, dtype=np.uint8)), "sha256": hashlib.sha256(data).hexdigest()}


def coprime_stride(n: int, target: int, modulus: int) -> int:
    """A stride giving ~target samples of n values that is coprime with `modulus`, so a sample of
    interleaved RGB values (modulus 3) or of pixel rows (modulus = width) visits every phase."""
    from math import gcd
    s = max(1, n // target)
    while gcd(s, modulus) != 1:
        s += 1
    return s


_vision_log_cb = None
_flash_log: list[str] = []  # llama.cpp / mtmd log lines that say which attention path runs


def vision_quiet() -> None:
    """Silences llama.cpp's, mtmd's and clip's logs, keeping the lines about flash attention
    (which attention kernel ran decides the numerics: see flash_log_since)."""
    global _vision_log_cb
    import llama_cpp as L
    from llama_cpp import mtmd_cpp as mtmd

    def log(level, text, user):
        line = text.decode("utf-8", "replace").strip()
        if "flash" in line.lower() and "input tensor" not in line:
            _flash_log.append(line)

    if _vision_log_cb is None:
        _vision_log_cb = L.llama_log_callback(log)
        L.llama_log_set(_vision_log_cb, None)
        mtmd.mtmd_log_set(_vision_log_cb, None)
        mtmd.mtmd_helper_log_set(_vision_log_cb, None)


def flash_log_since(mark: int) -> list[str]:
    return list(dict.fromkeys(_flash_log[mark:]))  # unique, in order


def build_preprocess_dump() -> str:
    import subprocess
    out = subprocess.run(["bash", str(Path(__file__).resolve().parent / "build_preprocess_dump.sh")],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def decode_image(mctx, path: Path) -> tuple[int, int, bytes]:
    """llama.cpp's loader: mtmd_helper_bitmap_init_from_file (stb_image, 3 channels)."""
    import ctypes
    from llama_cpp import mtmd_cpp as mtmd
    bmp = mtmd.mtmd_helper_bitmap_init_from_file(mctx, str(path).encode(), False)
    if not bmp:
        raise RuntimeError(f"mtmd could not load {path}")
    try:
        nx, ny = mtmd.mtmd_bitmap_get_nx(bmp), mtmd.mtmd_bitmap_get_ny(bmp)
        n = mtmd.mtmd_bitmap_get_n_bytes(bmp)
        assert n == nx * ny * 3
        data = ctypes.string_at(ctypes.cast(mtmd.mtmd_bitmap_get_data(bmp), ctypes.c_void_p), n)
    finally:
        mtmd.mtmd_bitmap_free(bmp)
    return nx, ny, data


def run_preprocess_dump(tool: str, mmproj: Path, rgb: bytes, width: int, height: int,
                        image_max_tokens: int = -1, encode: bool = False) -> dict:
    """Runs preprocess_dump.cpp. Returns hparams, grid and the tiles in mtmd's chunk order for
    idefics3 (slices row-major, then the overview: ov_img_first is false)."""
    import subprocess
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        rgb_path, out_path, enc_path = Path(tmp) / "in.rgb", Path(tmp) / "out.bin", Path(tmp) / "enc.f32"
        rgb_path.write_bytes(rgb)
        env = dict(os.environ)
        if encode:
            env["PREPROCESS_DUMP_ENCODE"] = str(enc_path)
        res = subprocess.run([tool, str(mmproj), str(rgb_path), str(width), str(height), str(out_path),
                              str(image_max_tokens)], check=True, capture_output=True, text=True, env=env)
        raw = out_path.read_bytes()
        encoded = np.frombuffer(enc_path.read_bytes(), dtype="<f4").copy() if encode else None
    assert raw[:8] == b"PPDUMP01", raw[:8]
    grid_x, grid_y, n_entries, has_overview = np.frombuffer(raw, dtype="<i4", count=4, offset=8)
    off, images = 24, []
    for _ in range(n_entries + has_overview):
        nx, ny = np.frombuffer(raw, dtype="<i4", count=2, offset=off)
        data = np.frombuffer(raw, dtype="<f4", count=int(nx) * int(ny) * 3, offset=off + 8).copy()
        images.append((int(nx), int(ny), data))
        off += 8 + data.nbytes
    assert off == len(raw) and has_overview == 1 and n_entries == grid_x * grid_y
    tiles = []
    for i, (nx, ny, data) in enumerate(images):
        if i < n_entries:
            tiles.append({"role": "slice", "row": i // int(grid_x) + 1, "col": i % int(grid_x) + 1,
                          "nx": nx, "ny": ny, "data": data})
        else:
            tiles.append({"role": "overview", "nx": nx, "ny": ny, "data": data})
    return {"hparams": json.loads(res.stdout.strip().splitlines()[-1]), "grid_x": int(grid_x), "grid_y": int(grid_y),
            "tiles": tiles, "encoded": encoded}


HPARAMS_LEGEND = {"image_resize_algo*": {"0": "bilinear", "1": "bicubic", "2": "lanczos"},
                  "image_pad_*": {"0": "none", "1": "ceil (aspect kept, centred, black)", "2": "nearest"},
                  "note": "image_longest_edge = clip.vision.preproc_image_size (0: absent); with it and no "
                          "pixel limit, the idefics3 branch (resize_algo for every step); otherwise llava-uhd "
                          "slicing (refined image: resize_algo_rf + pad_rf, overview: resize_algo_ov + pad_ov)"}


def tile_summary(tiles: list[dict]) -> list[dict]:
    return [{**{k: v for k, v in t.items() if k != "data"}, "checksum": f32_checksum(t["data"])} for t in tiles]


def preprocess_fixture(name: str, image_path: Path, mmproj: Path, tool: str) -> dict:
    """The decoded image and its preprocessing for one image and one preprocessing variant, stored
    once (they depend only on the image and the mmproj's preprocessing hparams, not on the weights);
    every vision case records the checksums and names this fixture for the samples."""
    nx, ny, rgb = decode_image(None, image_path)
    pre = run_preprocess_dump(tool, mmproj, rgb, nx, ny)
    w = FixtureWriter(FIXTURES / name, "vision-preprocess")
    pix = np.frombuffer(rgb, dtype=np.uint8).reshape(-1, 3)
    px_stride = coprime_stride(len(pix), RGB_SAMPLES, nx)
    w.array("rgb_sample", pix[::px_stride], "u8")
    sizes = {t["data"].size for t in pre["tiles"]}
    assert len(sizes) == 1, "tiles of different sizes"
    n = sizes.pop()
    stride = coprime_stride(n, TILE_SAMPLES, 3)
    w.array("tile_samples", np.stack([t["data"][::stride] for t in pre["tiles"]]), "f32")
    summary = {"grid_x": pre["grid_x"], "grid_y": pre["grid_y"], "n_tiles": len(pre["tiles"]),
               "tiles": tile_summary(pre["tiles"]), "hparams": pre["hparams"], "hparams_legend": HPARAMS_LEGEND}
    decoded = {"width": nx, "height": ny, "rgb_checksum": u8_checksum(rgb)}
    w.set(image=image_path.name, image_file_sha256=u8_checksum(image_path.read_bytes())["sha256"],
          decoder="mtmd_helper_bitmap_init_from_file (stb_image, 3 channels: gray replicated, alpha dropped)",
          decoded=decoded, preprocess=summary, mmproj_used=mmproj.name,
          rgb_sample_note=f"decoded RGB bytes of pixels 0, {px_stride}, 2*{px_stride}, ... (row-major), shape [k, 3]",
          rgb_sample_pixel_stride=px_stride,
          tile_layout="clip_image_f32 buffer: row-major, interleaved RGB (HWC), value (u8/255 - mean)/std",
          tile_order="mtmd chunk order: slices row-major (row r, col c from 1), then the overview",
          tile_sample_note=f"tile_samples[t] = tile t's f32 values at flat indices 0, {stride}, 2*{stride}, ... < {n}",
          tile_sample_stride=stride, tile_values=n,
          checksum_definition="u32 words w_i (f32 bit patterns; u8 bytes for rgb): sum = sum w_i, "
                              "weighted_sum = sum (i+1)*w_i, both mod 2^64")
    w.close()
    print(f"{name}: {nx}x{ny} -> grid {pre['grid_x']}x{pre['grid_y']} + overview")
    return {"decoded": decoded, "preprocess": summary}


def vision_context_settings() -> dict:
    import llama_cpp as L
    cp = L.llama_context_default_params()
    return {"n_ctx": VISION_N_CTX, "n_batch": VISION_N_BATCH, "n_ubatch": VISION_N_UBATCH, "threads": 2,
            "type_k": int(cp.type_k), "type_v": int(cp.type_v), "flash_attn_type": int(cp.flash_attn_type),
            "flash_attn_type_name": "auto" if cp.flash_attn_type == -1 else str(cp.flash_attn_type)}


def mtmd_context(model, mmproj: Path, image_max_tokens: int = -1):
    from llama_cpp import mtmd_cpp as mtmd
    vision_quiet()
    p = mtmd.mtmd_context_params_default()
    p.use_gpu = False
    p.n_threads = 2
    p.print_timings = False
    p.image_max_tokens = image_max_tokens
    mark = len(_flash_log)
    mctx = mtmd.mtmd_init_from_file(str(mmproj).encode(), model.model, p)
    if not mctx:
        raise RuntimeError(f"mtmd could not load {mmproj}")
    settings = {"n_threads": p.n_threads, "use_gpu": False, "warmup": bool(p.warmup), "clip_log": flash_log_since(mark),
                "flash_attn_type": int(p.flash_attn_type), "image_min_tokens": p.image_min_tokens,
                "image_max_tokens": p.image_max_tokens, "batch_max_tokens": p.batch_max_tokens,
                "media_marker": mtmd.mtmd_default_marker().decode()}
    return mctx, settings


def mtmd_chunks(mctx, m: Model, prompt: str, image_path: Path):
    """mtmd_tokenize(prompt with one marker, the image) -> (chunks handle, chunk list)."""
    import ctypes
    from llama_cpp import mtmd_cpp as mtmd
    bmp = mtmd.mtmd_helper_bitmap_init_from_file(mctx, str(image_path).encode(), False)
    b = prompt.encode()
    itxt = mtmd.mtmd_input_text(b, len(b), True, True)  # add_special, parse_special: as llama-mtmd-cli's first turn
    chunks = mtmd.mtmd_input_chunks_init()
    bmps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bmp)
    rc = mtmd.mtmd_tokenize(mctx, chunks, ctypes.byref(itxt), bmps, 1)
    mtmd.mtmd_bitmap_free(bmp)
    if rc != 0:
        raise RuntimeError(f"mtmd_tokenize returned {rc}")
    out, pos = [], 0
    for i in range(mtmd.mtmd_input_chunks_size(chunks)):
        ch = mtmd.mtmd_input_chunks_get(chunks, i)
        n_pos = mtmd.mtmd_input_chunk_get_n_pos(ch)
        if mtmd.mtmd_input_chunk_get_type(ch) == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
            n = ctypes.c_size_t()
            tp = mtmd.mtmd_input_chunk_get_tokens_text(ch, ctypes.byref(n))
            toks = [int(tp[k]) for k in range(n.value)]
            out.append({"type": "text", "pos": pos, "n_pos": n_pos, "tokens": toks,
                        "pieces": [m.piece(t).decode("utf-8", "replace") for t in toks]})
        else:
            it = mtmd.mtmd_input_chunk_get_tokens_image(ch)
            out.append({"type": "image", "pos": pos, "n_pos": n_pos,
                        "n_tokens": mtmd.mtmd_input_chunk_get_n_tokens(ch),
                        "nx": mtmd.mtmd_image_tokens_get_nx(it), "ny": mtmd.mtmd_image_tokens_get_ny(it)})
        pos += n_pos
    return chunks, out


def eval_chunks(mctx, m: Model, ctx, chunks, chunk_list: list[dict], timings: dict | None = None) -> tuple[list[np.ndarray], int]:
    """mtmd_helper_eval_chunks, unrolled: each chunk through mtmd_helper_eval_chunk_single, whose
    image branch is mtmd_encode_chunk + mtmd_helper_decode_image_chunk -- called here directly so
    the projector output is kept (same calls, same order, same n_batch: identical results).
    Returns each image chunk's embeddings (n_tokens x n_embd) and the position after the prompt."""
    import ctypes
    import time
    import llama_cpp as L
    from llama_cpp import mtmd_cpp as mtmd
    n_embd = L.llama_model_n_embd(m.model)
    embds, n_past = [], 0
    n_chunks = mtmd.mtmd_input_chunks_size(chunks)
    for i in range(n_chunks):
        ch = mtmd.mtmd_input_chunks_get(chunks, i)
        assert chunk_list[i]["pos"] == n_past
        new_past = L.llama_pos(n_past)  # the text path adds to *new_n_past: start at the current position
        if chunk_list[i]["type"] == "text":
            t0 = time.perf_counter()
            rc = mtmd.mtmd_helper_eval_chunk_single(mctx, ctx, ch, n_past, 0, VISION_N_BATCH, i == n_chunks - 1,
                                                    ctypes.byref(new_past))
            if timings is not None:
                timings["prefill_s"] += time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            rc = mtmd.mtmd_encode_chunk(mctx, ch)
            t1 = time.perf_counter()
            if rc != 0:
                raise RuntimeError(f"mtmd_encode_chunk returned {rc}")
            n = chunk_list[i]["n_tokens"]
            ptr = mtmd.mtmd_get_output_embd(mctx)
            embds.append(np.ctypeslib.as_array(ptr, shape=(n, n_embd)).copy())
            rc = mtmd.mtmd_helper_decode_image_chunk(mctx, ctx, ch, ptr, n_past, 0, VISION_N_BATCH,
                                                     ctypes.byref(new_past), mtmd.mtmd_helper_post_decode_callback(), None)
            if timings is not None:
                timings["encode_ms"].append(1e3 * (t1 - t0))
                timings["prefill_s"] += time.perf_counter() - t1
        if rc != 0:
            raise RuntimeError(f"chunk {i}: mtmd helper returned {rc}")
        assert new_past.value == n_past + chunk_list[i]["n_pos"], (new_past.value, n_past, chunk_list[i])
        n_past = new_past.value
    return embds, n_past


def vision_prompt(text_path: Path) -> str:
    from llama_cpp import mtmd_cpp as mtmd
    return chat_prompt(text_path, mtmd.mtmd_default_marker().decode() + VISION_QUESTION)


def vision_case(name: str, m: Model, mctx, mtmd_settings: dict, text_path: Path, mmproj: Path, image_path: Path,
                shared: dict, shared_name: str, tool: str, full_steps: list[int], all_embd_full: bool,
                selfcheck: bool) -> None:
    import llama_cpp as L
    # 1. decoded image (llama.cpp's loader, with this mtmd context) and its preprocessing (this mmproj)
    nx, ny, rgb = decode_image(mctx, image_path)
    decoded = {"width": nx, "height": ny, "rgb_checksum": u8_checksum(rgb)}
    assert decoded == shared["decoded"], f"{name}: decoded image differs from {shared_name}"
    pre = run_preprocess_dump(tool, mmproj, rgb, nx, ny, encode=selfcheck)
    tiles = tile_summary(pre["tiles"])
    assert tiles == shared["preprocess"]["tiles"], f"{name}: preprocessing differs from {shared_name}"
    # 2. prompt -> chunks
    prompt = vision_prompt(text_path)
    chunks, chunk_list = mtmd_chunks(mctx, m, prompt, image_path)
    from llama_cpp import mtmd_cpp as mtmd
    try:
        image_chunks = [c for c in chunk_list if c["type"] == "image"]
        assert len(image_chunks) == len(tiles), (len(image_chunks), len(tiles))
        seq_tok, seq_tile = [], []
        for t, c in enumerate(image_chunks):
            c["tile"] = t
            c.update({k: v for k, v in tiles[t].items() if k in ("role", "row", "col")})
        for c in chunk_list:
            if c["type"] == "text":
                seq_tok += c["tokens"]
                seq_tile += [-1] * len(c["tokens"])
            else:
                seq_tok += [-1] * c["n_tokens"]
                seq_tile += [c["tile"]] * c["n_tokens"]
        # 3. evaluate the prompt, keep the projector output, then greedy steps
        mark = len(_flash_log)
        with m.context(n_batch=VISION_N_BATCH) as ctx:
            context_log = flash_log_since(mark)
            embds, n_past = eval_chunks(mctx, m, ctx, chunks, chunk_list)
            assert n_past == len(seq_tok)
            logits = np.zeros((VISION_STEPS, m.n_vocab), dtype=np.float32)
            chosen: list[int] = []
            cur = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, -1), shape=(m.n_vocab,)).copy()
            for k in range(VISION_STEPS):
                logits[k] = cur
                tok = int(np.argmax(cur))
                chosen.append(tok)
                if k + 1 < VISION_STEPS:
                    cur = m.decode(ctx, [tok], n_past + k)
    finally:
        mtmd.mtmd_input_chunks_free(chunks)
    if selfcheck:
        # the dumped tiles, encoded by clip_image_encode, give mtmd's embeddings bit for bit
        assert np.array_equal(pre["encoded"], np.concatenate([e.reshape(-1) for e in embds])), \
            f"{name}: preprocess_dump tiles do not reproduce mtmd's encoder input"

    w = FixtureWriter(FIXTURES / name, "vision")
    e = np.stack(embds)  # [tiles, 64, n_embd]
    full_tiles = list(range(len(embds))) if all_embd_full else [0, len(embds) - 1]
    w.array("embd_full_tiles", full_tiles, "i32")
    w.array("embd_full", e[full_tiles].astype(np.float16), "f16")
    w.array("embd_stats", np.stack([e.reshape(len(e), -1).astype(np.float64).mean(axis=1),
                                    e.reshape(len(e), -1).astype(np.float64).std(axis=1)], axis=1), "f32")
    if not all_embd_full:
        idx = np.sort(np.random.default_rng(7).choice(e[0].size, size=EMBD_SAMPLES, replace=False)).astype(np.int32)
        w.array("embd_sample_idx", idx, "i32")
        w.array("embd_samples", e.reshape(len(e), -1)[:, idx], "f32")
    w.array("sequence_tokens", seq_tok, "i32")
    w.array("sequence_tile", seq_tile, "i32")
    logit_record(w, logits, chosen, full_steps, probe_count=VISION_PROBES)
    w.set(model=text_path.name, mmproj=mmproj.name, image=image_path.name, llama=llama_info(),
          context={**vision_context_settings(), "log": context_log}, mtmd=mtmd_settings,
          attention_note="clip_log/context log: the vision encoder's attention runs ggml_flash_attn_ext when "
                         "flash attention is enabled (K, V cast to F16; F32 accumulation); the text decoder "
                         "likewise with its F16 KV cache",
          decoded=decoded, decoded_note="exact for PNG; JPEG decoders may differ from stb_image by a few levels",
          preprocess={"fixture": shared_name, "grid_x": pre["grid_x"], "grid_y": pre["grid_y"], "n_tiles": len(tiles),
                      "tiles": tiles, "hparams": pre["hparams"], "hparams_legend": HPARAMS_LEGEND,
                      "selfcheck": ("clip_image_encode(dumped tiles) == mtmd_encode_chunk output, bit for bit"
                                    if selfcheck else None)},
          prompt_text=prompt, tokenize={"add_special": True, "parse_special": True},
          chunks=chunk_list, n_pos=n_past,
          positions="consecutive: chunk k starts at the sum of n_pos of chunks before it; an image chunk "
                    "takes one position per embedding; generated token k is decoded at n_pos + k",
          sequence_note="sequence_tokens[p]: token id at position p, -1 for an image embedding; "
                        "sequence_tile[p]: the image chunk (tile index in chunk order) or -1",
          eval={"helper": "mtmd_helper_eval_chunk_single per chunk (= mtmd_helper_eval_chunks); image chunks: "
                          "mtmd_encode_chunk + mtmd_helper_decode_image_chunk", "n_batch": VISION_N_BATCH,
                "logits_last": True, "seq_id": 0,
                "batches": "one llama_decode per chunk (text chunks and 64-embedding image chunks are < n_ubatch)"},
          embd_note=("embd_full[i] is tile embd_full_tiles[i]'s projector output (64 x n_embd, f16); "
                     "embd_stats[t] = (mean, std) of tile t; " +
                     ("" if all_embd_full else f"embd_samples[t] = tile t's f32 values at flat indices embd_sample_idx "
                                               f"(seeded, rng 7) of the 64 x n_embd matrix")),
          generation={"steps": VISION_STEPS, "greedy": True, "stops_at_eog": False, "full_steps": full_steps,
                      "probe_count": VISION_PROBES},
          generated_text=b"".join(m.piece(t) for t in chosen).decode("utf-8", "replace"))
    w.close()
    gaps = np.sort(logits, axis=1)
    print(f"{name}: {len(tiles)} tiles, {n_past} positions, embd std {e.std():.3f}, logit std "
          f"{logits.std(axis=1).mean():.3f}, min top-2 gap {(gaps[:, -1] - gaps[:, -2]).min():.2e}")


def ensure_vision_models() -> None:
    import subprocess
    script = ROOT / "models" / "make_synthetic.py"
    for preset, types in [("tiny", "f16,q8_0"), ("smolvlm-256m", "q8_0")]:
        if not all((MODELS / f"{preset}-mmproj-{t}-nopreproc.gguf").exists() for t in types.split(",")):
            subprocess.run([sys.executable, str(script), "--preset", preset, "--types", types, "--parts", "mmproj",
                            "--no-preproc-size"], check=True)
    for preset, t, mt, _, _ in VISION_PAIRS:
        for f in [f"{preset}-text-{t}.gguf", f"{preset}-mmproj-{mt}.gguf"]:
            if not (MODELS / f).exists():
                ensure_synthetic()


def vision_cases() -> None:
    import subprocess
    subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "make_test_images.py")], check=True)
    ensure_vision_models()
    tool = build_preprocess_dump()
    images = sorted(IMAGES.glob("*.png")) + sorted(IMAGES.glob("*.jpg"))
    images.sort(key=lambda p: p.stem)
    assert len(images) == 8, [p.name for p in images]
    shared = {}
    for img in images:
        shared[img.stem] = preprocess_fixture(f"vision-preprocess-{img.stem}", img, MODELS / "tiny-mmproj-q8_0.gguf", tool)
    bench = next(p for p in images if p.stem == NOPREPROC_IMAGE)
    shared_np = preprocess_fixture(f"vision-preprocess-nopreproc-{NOPREPROC_IMAGE}", bench,
                                   MODELS / "tiny-mmproj-q8_0-nopreproc.gguf", tool)
    for preset, ttype, mtype, stems, all_full in VISION_PAIRS:
        text_path = MODELS / f"{preset}-text-{ttype}.gguf"
        m = Model(str(text_path), n_ctx=VISION_N_CTX)
        tiny = preset == "tiny"
        mmproj = MODELS / f"{preset}-mmproj-{mtype}.gguf"
        mctx, settings = mtmd_context(m, mmproj)
        from llama_cpp import mtmd_cpp as mtmd
        for img in images:
            if stems is not None and img.stem not in stems:
                continue
            vision_case(f"vision-{preset}-{mtype}-{img.stem}", m, mctx, settings, text_path, mmproj, img,
                        shared[img.stem], f"vision-preprocess-{img.stem}", tool,
                        [0, VISION_STEPS - 1] if img.stem == BENCH_IMAGE else [0], all_full, selfcheck=tiny)
        mtmd.mtmd_free(mctx)
        if (preset, mtype) in NOPREPROC_MMPROJ:
            mmproj = MODELS / f"{preset}-mmproj-{mtype}-nopreproc.gguf"
            mctx, settings = mtmd_context(m, mmproj)
            vision_case(f"vision-{preset}-{mtype}-nopreproc-{NOPREPROC_IMAGE}", m, mctx, settings, text_path, mmproj,
                        bench, shared_np, f"vision-preprocess-nopreproc-{NOPREPROC_IMAGE}", tool, [0], all_full,
                        selfcheck=tiny)
            mtmd.mtmd_free(mctx)
    slicing_cases(tool)


# llava-uhd slicing (the idefics3 branch without clip.vision.preproc_image_size, or with a pixel
# limit): PNG sources only, so the Swift tiles can be compared bit for bit. Wide, tall, huge and
# degenerate images are derived from a PNG by tiling it (pixel (x, y) = source (x mod w, y mod h)),
# which the Swift test repeats on its own decode. (name, source PNG, derived size or None, mmproj,
# image_max_tokens or -1)
SLICING_CASES = [
    ("chelsea-300x200", "chelsea-300x200.png", None, "tiny-mmproj-q8_0-nopreproc.gguf", -1),
    ("camera-gray-640x480", "camera-gray-640x480.png", None, "tiny-mmproj-q8_0-nopreproc.gguf", -1),
    ("coffee-rgba-300x200", "coffee-rgba-300x200.png", None, "tiny-mmproj-q8_0-nopreproc.gguf", -1),
    ("wide-1900x300", "chelsea-300x200.png", (1900, 300), "tiny-mmproj-q8_0-nopreproc.gguf", -1),
    ("tall-250x1400", "camera-gray-640x480.png", (250, 1400), "tiny-mmproj-q8_0-nopreproc.gguf", -1),
    ("huge-3000x2200", "chelsea-300x200.png", (3000, 2200), "tiny-mmproj-q8_0-nopreproc.gguf", -1),
    ("pixel-1x1", "chelsea-300x200.png", (1, 1), "tiny-mmproj-q8_0-nopreproc.gguf", -1),
    ("line-1x3000", "camera-gray-640x480.png", (1, 3000), "tiny-mmproj-q8_0-nopreproc.gguf", -1),
    ("wide-1900x300-max128", "chelsea-300x200.png", (1900, 300), "tiny-mmproj-q8_0-nopreproc.gguf", 128),
    ("camera-gray-640x480-max256", "camera-gray-640x480.png", None, "tiny-mmproj-q8_0.gguf", 256),
]
SLICING_TILE_SAMPLES = 1024  # per tile; the checksums cover every value


def slicing_cases(tool: str | None = None) -> None:
    """llama.cpp's idefics3 llava-uhd tiles (libmtmd through preprocess_dump) for SLICING_CASES,
    in one fixture: per case the grid, every tile's checksum and a strided sample."""
    tool = tool or build_preprocess_dump()
    w = FixtureWriter(FIXTURES / "vision-preprocess-llava-uhd", "vision-preprocess-llava-uhd")
    cases = []
    for name, source, size, mmproj, max_tokens in SLICING_CASES:
        nx, ny, rgb = decode_image(None, IMAGES / source)
        if size is not None:
            src = np.frombuffer(rgb, dtype=np.uint8).reshape(ny, nx, 3)
            nx, ny = size
            rgb = src[np.arange(ny)[:, None] % src.shape[0], np.arange(nx)[None, :] % src.shape[1]].tobytes()
        pre = run_preprocess_dump(tool, MODELS / mmproj, rgb, nx, ny, image_max_tokens=max_tokens)
        n = pre["tiles"][0]["data"].size
        assert all(t["data"].size == n for t in pre["tiles"]), "tiles of different sizes"
        stride = coprime_stride(n, SLICING_TILE_SAMPLES, 3)
        w.array(f"tile_samples_{name}", np.stack([t["data"][::stride] for t in pre["tiles"]]), "f32")
        cases.append({"name": name, "source": source, "width": nx, "height": ny, "derived": size is not None,
                      "rgb_checksum": u8_checksum(rgb), "mmproj_used": mmproj, "image_max_tokens": max_tokens,
                      "grid_x": pre["grid_x"], "grid_y": pre["grid_y"], "n_tiles": len(pre["tiles"]),
                      "tiles": tile_summary(pre["tiles"]), "hparams": pre["hparams"], "tile_sample_stride": stride,
                      "tile_values": n})
        print(f"llava-uhd {name}: {nx}x{ny} -> grid {pre['grid_x']}x{pre['grid_y']} + overview")
    w.set(cases=cases, hparams_legend=HPARAMS_LEGEND,
          decoder="mtmd_helper_bitmap_init_from_file (stb_image, 3 channels: gray replicated, alpha dropped)",
          derived_note="derived: pixel (x, y) = decoded source pixel (x mod source width, y mod source height)",
          tile_layout="clip_image_f32 buffer: row-major, interleaved RGB (HWC), value (u8/255 - mean)/std",
          tile_order="mtmd chunk order: slices row-major (row r, col c from 1), then the overview",
          tile_sample_note="tile_samples_<name>[t] = tile t's f32 values at flat indices 0, s, 2s, ... "
                           "(s = the case's tile_sample_stride)",
          checksum_definition="u32 words w_i (f32 bit patterns; u8 bytes for rgb): sum = sum w_i, "
                              "weighted_sum = sum (i+1)*w_i, both mod 2^64")
    w.close()


def vision_timing() -> None:
    """llama.cpp's speed on the 256m q8_0 pair, 2 threads, the benchmark image: default slicing and
    with image_max_tokens = 64 (llama-mtmd-cli --image-max-tokens 64). Printed, not stored: timings
    are not reproducible, and the fixtures must be."""
    import time
    text_path = MODELS / "smolvlm-256m-text-q8_0.gguf"
    mmproj = MODELS / "smolvlm-256m-mmproj-q8_0.gguf"
    image = IMAGES / f"{BENCH_IMAGE}.jpg"
    m = Model(str(text_path), n_ctx=VISION_N_CTX)
    from llama_cpp import mtmd_cpp as mtmd
    report = {"model": text_path.name, "mmproj": mmproj.name, "image": image.name, "threads": 2,
              "context": vision_context_settings(), "runs": []}
    for max_tokens in (-1, 64):
        mctx, settings = mtmd_context(m, mmproj, image_max_tokens=max_tokens)
        chunks, chunk_list = mtmd_chunks(mctx, m, vision_prompt(text_path), image)
        timings = {"encode_ms": [], "prefill_s": 0.0}
        with m.context(n_batch=VISION_N_BATCH) as ctx:
            _, n_past = eval_chunks(mctx, m, ctx, chunks, chunk_list, timings)
            import llama_cpp as L
            tok = int(np.argmax(np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, -1), shape=(m.n_vocab,))))
            t0 = time.perf_counter()
            for k in range(VISION_STEPS):
                tok = int(np.argmax(m.decode(ctx, [tok], n_past + k)))
            t_dec = time.perf_counter() - t0
        mtmd.mtmd_input_chunks_free(chunks)
        mtmd.mtmd_free(mctx)
        enc = timings["encode_ms"]
        report["runs"].append({"image_max_tokens": max_tokens, "tiles": len(enc), "positions": n_past,
                               "encode_ms_per_tile": [round(x, 1) for x in enc],
                               "encode_ms_median": round(float(np.median(enc)), 1),
                               "encode_ms_total": round(float(np.sum(enc)), 1),
                               "prefill_ms": round(1e3 * timings["prefill_s"], 1),
                               "prefill_tok_per_s": round(n_past / timings["prefill_s"], 1),
                               "decode_ms_per_token": round(1e3 * t_dec / VISION_STEPS, 2),
                               "decode_tokens": VISION_STEPS})
    print(json.dumps(report, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated case groups: quant, tokenizer, smollm2, synthetic-text, kquant, "
                    "vision (includes slicing); 'slicing' alone regenerates only the llava-uhd slicing fixture; "
                    "'timing' (not in the default run) prints llama.cpp's vision timings")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))

    def want(group: str) -> bool:
        return not only or group in only

    smollm2 = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
    import subprocess
    if not smollm2.exists():
        subprocess.run([str(ROOT / "models" / "fetch-smollm2.sh")], check=True)
    if want("quant"):
        # GGUF reader and dequantization fixtures (gguf-py is their reference, not llama.cpp).
        subprocess.run([sys.executable, str(ROOT / "Tests" / "Reference" / "make_quant_fixtures.py")], check=True)
    if want("tokenizer"):
        tokenizer_case("tokenizer-smollm2", smollm2)
    if want("smollm2"):
        prompt = chat_prompt(smollm2, USER_QUESTION)
        generation_case("generate-smollm2-q4_1", smollm2, prompt,
                        "ChatML as llama.cpp's built-in template formats it (no default system prompt)")
    if want("synthetic-text"):
        ensure_synthetic()
        tokenizer_case("tokenizer-smolvlm", MODELS / "tiny-text-q8_0.gguf")
        for name in ["tiny-text-f16", "tiny-text-q8_0", "tiny-text-q4_k_m", "smolvlm-256m-text-q8_0"]:
            path = COMMITTED_MODELS / f"{name}.gguf" if name in COMMITTED else MODELS / f"{name}.gguf"
            generation_case(f"generate-{name.replace('-text', '')}", path, chat_prompt(path, TEXT_PROMPT),
                            "SmolVLM's User:/Assistant: template as llama.cpp's built-in template formats it")
    if want("kquant"):
        import subprocess as sp
        sp.run([sys.executable, str(ROOT / "models" / "make_synthetic.py"), "--preset", "kquant", "--parts", "text",
                "--types", ",".join(KQUANT_TYPES)], check=True)
        for t in KQUANT_TYPES:
            kquant_case(f"kquant-{t}", MODELS / f"kquant-text-{t}.gguf")
    if want("vision"):
        vision_cases()
    elif "slicing" in only:
        slicing_cases()
    if not only:
        # Record the hashes of the synthetic models these fixtures were made from; CI checks them.
        subprocess.run([str(ROOT / "models" / "build-test-models.sh"), "--record"], check=True)
    if "timing" in only:
        vision_timing()


if __name__ == "__main__":
    main()
