#!/usr/bin/env python3
"""Seed corpora and dictionaries for the libFuzzer targets (Fuzz/README.md).

usage: make_seeds.py OUT_DIR

Writes OUT_DIR/<target>/ for FuzzGGUF, FuzzImage, FuzzTokenizer, FuzzPrompt, FuzzChatRequest
and OUT_DIR/<target>.dict where a dictionary helps. Everything is generated (deterministic),
nothing is committed: micro GGUF models with SmolVLM's layout written by models/make_synthetic.py's
writers (every weight type the kernels read, a tokenizer, a vision encoder), small JPEG/PNG
files from Pillow in every colour mode and sampling the decoders take, raw camera buffers,
texts, prompts and request bodies shaped like the server tests'.
"""

import base64
import io
import json
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))
import gguf  # noqa: E402
import make_synthetic as ms  # noqa: E402


def write(directory: Path, name: str, data: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


# ---------------------------------------------------------------------------------------------
# GGUF: micro models, and one tensor of every type
# ---------------------------------------------------------------------------------------------

def byte_level_vocab() -> ms.Vocab:
    """GPT-2's 256 byte tokens, a few merges, the chat and image special tokens."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_tokens = [chr(c) for c in cs]
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "Ċ Ċ"]  # "\n\n": the image layout needs it
    merged = [m.replace(" ", "") for m in merges]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    # SmolVLM's image tokens, and <end_of_utterance> last (the end-of-generation id).
    added = ["<global-img>", "<row_1_col_1>", "<fake_token_around_image>", "<image>", "<end_of_utterance>"]
    tokens = specials + byte_tokens + merged + added
    types = [int(gguf.TokenType.CONTROL)] * 3 + [int(gguf.TokenType.NORMAL)] * (len(byte_tokens) + len(merged)) \
        + [int(gguf.TokenType.CONTROL)] * len(added)
    return ms.Vocab(tokens, types, merges, "smollm")


def gguf_seeds(out: Path) -> None:
    vocab = byte_level_vocab()
    micro = ms.Preset(
        "micro", "SmolVLM micro (fuzz seed)", "micro",
        ms.TextCfg(n_embd=32, n_layer=1, n_head=2, n_head_kv=1, n_ff=64, head_dim=16, n_vocab=len(vocab.tokens), n_ctx=256),
        ms.VisionCfg(n_embd=32, n_layer=1, n_head=2, n_ff=64, image_size=16, patch_size=4, scale_factor=2,
                     preproc_image_size=64),
    )
    # write_text puts the real model's special ids into the file; ours are smaller.
    ms.BOS_ID, ms.EOS_ID, ms.UNK_ID, ms.PAD_ID = 1, len(vocab.tokens) - 1, 0, 2
    d = out / "FuzzGGUF"
    d.mkdir(parents=True, exist_ok=True)
    # Tied embeddings, as SmolLM2's: no output.weight, and seeds half the size (the fuzzer's
    # speed goes with its inputs' length).
    text_tensors = ms.text_tensors
    ms.text_tensors = lambda c: [t for t in text_tensors(c) if t.name != "output.weight"]
    for typ in ("q8_0", "q4_0", "q5_1"):  # F16 weights: every-type.gguf (smaller seeds)
        ms.write_text(d / f"micro-text-{typ}.gguf", micro, typ, vocab, {})
    for typ in ("q8_0",):
        ms.write_mmproj(d / f"micro-mmproj-{typ}.gguf", micro, typ, True, {})

    # Every type the kernels dequantize, one 256-wide row pair each (K-quant blocks need 256).
    w = gguf.GGUFWriter(d / "every-type.gguf", "llama")
    w.add_custom_alignment(64)
    w.add_array("seed.strings", ["a", "", "é"])
    w.add_array("seed.floats", [0.5, -1.0])
    w.add_bool("seed.flag", True)
    x = ms.normal("fuzz", "every-type", (2, 256), 1.0)
    for name in ms.TYPES:
        if name == "q4_k_m":
            continue
        data, qt = ms.encode(x, ms.T(f"t.{name}", (2, 256), 1.0), name)
        w.add_tensor(f"t.{name}", data, raw_dtype=qt)
    w.add_tensor("t.f32", x.astype(np.float32))
    # The activation types (computable too) and one type the kernels lack (a typed error):
    # random blocks, since gguf-py cannot write them.
    raw = np.random.default_rng(3)
    for qt in (gguf.GGMLQuantizationType.Q8_1, gguf.GGMLQuantizationType.Q8_K, gguf.GGMLQuantizationType.Q2_K):
        block, size = gguf.GGML_QUANT_SIZES[qt]
        w.add_tensor(f"t.{qt.name.lower()}", raw.integers(0, 256, (2, 256 // block * size), dtype=np.uint8), raw_dtype=qt)
    ms._flush(w, d / "every-type.gguf")


# ---------------------------------------------------------------------------------------------
# Images: files, and raw camera buffers
# ---------------------------------------------------------------------------------------------

def image_seeds(out: Path) -> None:
    d = out / "FuzzImage"
    rng = np.random.default_rng(7)
    n = 0

    def save(img: Image.Image, fmt: str, **kw) -> None:
        nonlocal n
        b = io.BytesIO()
        img.save(b, fmt, **kw)
        write(d, f"{n:03d}-{fmt.lower()}-{img.mode}-{img.width}x{img.height}", b"\x00" + b.getvalue())
        n += 1

    for (w, h) in [(1, 1), (7, 5), (16, 16), (33, 17)]:
        rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
        for mode in ("RGB", "L", "CMYK"):
            img = rgb.convert(mode)
            save(img, "JPEG", quality=90)
        save(rgb, "JPEG", quality=50, progressive=True)
        for sub in (0, 1, 2):
            save(rgb, "JPEG", quality=75, subsampling=sub)
        for mode in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
            save(rgb.convert(mode) if mode != "I;16" else rgb.convert("L").convert("I;16"), "PNG")

    # Raw buffers: [2, format, width, height, bytesPerRow (int16 LE), pixels…] and
    # [3, range, width, height, luma stride, chroma stride, luma bytes, luma…, chroma…].
    for fmt in range(3):
        w, h, stride = 5, 3, 24
        write(d, f"packed-{fmt}", bytes([2, fmt]) + struct.pack("<hhh", w, h, stride) + rng.integers(0, 256, stride * h, dtype=np.uint8).tobytes())
    for rng_kind in range(2):
        w, h, ls, cs = 5, 3, 8, 8
        luma = rng.integers(0, 256, ls * h, dtype=np.uint8).tobytes()
        chroma = rng.integers(0, 256, cs * ((h + 1) // 2), dtype=np.uint8).tobytes()
        write(d, f"nv12-{rng_kind}", bytes([3, rng_kind]) + struct.pack("<hhhhh", w, h, ls, cs, len(luma)) + luma + chroma)


# ---------------------------------------------------------------------------------------------
# Text: tokenizer inputs, prompts, request bodies
# ---------------------------------------------------------------------------------------------

TEXTS = [
    "", " ", "Hello world", "  leading and trailing  ", "The capital of France is Paris.",
    "I'm sure it's what you've seen", "1234567 3.14159 1,000,000", "tab\there\nnew line\r\n",
    "éàü Ünïcödé ñ", "日本語のテキスト", "🙂👍🏽 emoji 🇫🇷", "\u200b\u00a0zero width", "a" * 200,
    "<|im_start|>user\nHi<|im_end|>", "<end_of_utterance>", "<image><global-img><row_1_col_1>",
    "<fake_token_around_image>", "<|endoftext|>text", "<__media__>", "Assistant: sure.",
]


def tokenizer_seeds(out: Path) -> None:
    d = out / "FuzzTokenizer"
    for i, text in enumerate(TEXTS):
        for flags in (0, 1, 5):
            write(d, f"text-{i:02d}-{flags}", bytes([flags]) + text.encode())
    for flags in (8, 12):
        ids = [1, 2, 0, 49279, 49190, 49152, 300, 12, -1, -1024, 49280, 64511]
        write(d, f"ids-{flags}", bytes([flags]) + struct.pack(f"<{len(ids)}H", *(i + 1024 for i in ids)))


def prompt_seeds(out: Path) -> None:
    d = out / "FuzzPrompt"
    conversations = [
        [(1, "\x01Describe this image.")],
        [(0, "You are helpful."), (1, "\x01\x01Compare these."), (2, "The first one."), (1, "And?")],
        [(1, "Hi")],
        [(1, "no image here \x01 but a marker")],
    ]
    templates = [b"smolvlm", b"chatml", ms.CHAT_TEMPLATE.encode(), b"<|im_start|>{{ messages }}<|im_end|>"]
    for i, conv in enumerate(conversations):
        images = sum(c.count("\x01") for _, c in conv)
        for flags in (0, 1, 2 + 4 + 8 + 16):
            body = b"\x00".join([templates[i % len(templates)]] + [bytes([r]) + c.encode() for r, c in conv])
            grids = bytes([(i * 7 + k * 3) % 25 for k in range(images)])
            write(d, f"prompt-{i}-{flags}", bytes([flags, images]) + grids + body)


def png_data_uri() -> str:
    b = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 40)).save(b, "PNG")
    return "data:image/png;base64," + base64.b64encode(b.getvalue()).decode()


def chat_request_seeds(out: Path) -> None:
    d = out / "FuzzChatRequest"
    uri = png_data_uri()
    bodies = [
        {"messages": [{"role": "user", "content": "Hello"}]},
        {"model": "smolvlm", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
         "max_tokens": 8, "temperature": 0, "stream": True, "stream_options": {"include_usage": True}},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
                                                  {"type": "image_url", "image_url": {"url": uri}}]}],
         "n_predict": -1, "seed": 42, "top_k": 40, "top_p": 0.9, "min_p": 0.05, "stop": ["\n", "END"]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": uri.split(",", 1)[1]}]}],
         "repeat_penalty": 1.1, "repeat_last_n": 64, "presence_penalty": 0.5, "frequency_penalty": 0.5, "cache_prompt": False},
        {"messages": [{"role": "developer", "content": None}, {"role": "assistant", "content": "ok"}],
         "max_completion_tokens": 3, "stop": "x"},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}]}]},
        {"messages": []},
        {"messages": [{"role": "tool", "content": 3}], "temperature": "hot"},
    ]
    for i, body in enumerate(bodies):
        write(d, f"body-{i}", json.dumps(body).encode())
    write(d, "not-json", b"{\"messages\": [")


DICTIONARIES = {
    "FuzzChatRequest": ['"messages"', '"role"', '"content"', '"user"', '"system"', '"assistant"', '"developer"',
                        '"type"', '"text"', '"image_url"', '"url"', '"data:image/png;base64,', '"https://', '"max_tokens"',
                        '"max_completion_tokens"', '"n_predict"', '"temperature"', '"top_k"', '"top_p"', '"min_p"',
                        '"seed"', '"stop"', '"stream"', '"stream_options"', '"include_usage"', '"repeat_penalty"',
                        '"repeat_last_n"', '"presence_penalty"', '"frequency_penalty"', '"cache_prompt"',
                        "<__media__>", "null", "true", "false", "-1", "1e308", "9223372036854775807", "-0.0"],
    "FuzzPrompt": ["<__media__>", "<|im_start|>", "<|im_end|>", "<end_of_utterance>", "<|im_sep|>", "smolvlm",
                   "chatml", "<image>", "<global-img>", "<fake_token_around_image>", "\x01"],
    "FuzzTokenizer": ["<|im_start|>", "<|im_end|>", "<end_of_utterance>", "<|endoftext|>", "<image>", "<global-img>",
                      "<row_1_col_1>", "<fake_token_around_image>", "'s", "'ve", "  ", "\r\n"],
}


def dictionary_entry(text: str) -> str:
    """libFuzzer's dictionary syntax: a double-quoted string, other than printable ASCII as \\xNN."""
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}"
                         for b in text.encode()) + '"'


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    gguf_seeds(out)
    image_seeds(out)
    tokenizer_seeds(out)
    prompt_seeds(out)
    chat_request_seeds(out)
    for target, entries in DICTIONARIES.items():
        (out / f"{target}.dict").write_text("".join(dictionary_entry(e) + "\n" for e in entries))
    for target in sorted(p.name for p in out.iterdir() if p.is_dir()):
        files = list((out / target).iterdir())
        print(f"{target}: {len(files)} seeds, {sum(f.stat().st_size for f in files):,} bytes")


if __name__ == "__main__":
    main()
