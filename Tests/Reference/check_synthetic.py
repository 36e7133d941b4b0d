#!/usr/bin/env python3
"""Load a synthetic SmolVLM pair (models/make_synthetic.py) in llama.cpp and run it end to end.

    python3 Tests/Reference/check_synthetic.py \
        --text models/smolvlm-256m-text-q8_0.gguf --mmproj models/smolvlm-256m-mmproj-q8_0.gguf

Checks (exit status 1 if one fails):
  * llama.cpp loads the text model; prompt logits are finite and not degenerate
    (0.1 < std < 100); a short greedy generation runs;
  * mtmd loads the mmproj with the text model, slices a synthetic image, encodes every
    tile (each tile's embeddings finite, 64 x n_embd_text), evaluates the whole image
    prompt and generates greedily.
Prints llama.cpp timings: per-tile encode, prefill and decode (ms, tokens/s).
Needs llama-cpp-python (0.3.36) and numpy only; the image is made with numpy.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import time

import numpy as np

import llama_cpp
from llama_cpp import _logger
from llama_cpp import mtmd_cpp as mtmd

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        failures.append(what)


def stats(x: np.ndarray) -> str:
    return f"mean {x.mean():+.4f} std {x.std():.4f} min {x.min():+.3f} max {x.max():+.3f}"


def tokenize(vocab, text: str) -> list[int]:
    b = text.encode()
    buf = (llama_cpp.llama_token * (len(b) + 16))()
    n = llama_cpp.llama_tokenize(vocab, b, len(b), buf, len(buf), False, True)
    assert n >= 0
    return list(buf[:n])


def piece(vocab, tok: int) -> str:
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(vocab, tok, buf, len(buf), 0, True)
    return buf.raw[:max(n, 0)].decode(errors="replace")


def logits_last(ctx, n_vocab: int) -> np.ndarray:
    p = llama_cpp.llama_get_logits_ith(ctx, -1)
    return np.ctypeslib.as_array(p, shape=(n_vocab,)).copy()


def generate(ctx, vocab, n_vocab: int, n_past: int, n_gen: int) -> tuple[list[int], float, int]:
    """Greedy decode from the logits already in ctx; returns tokens, decode seconds, n decoded."""
    out: list[int] = []
    t_dec, n_dec = 0.0, 0
    for _ in range(n_gen):
        tok = int(np.argmax(logits_last(ctx, n_vocab)))
        out.append(tok)
        if llama_cpp.llama_vocab_is_eog(vocab, tok):
            break
        arr = (llama_cpp.llama_token * 1)(tok)
        t0 = time.perf_counter()
        rc = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, 1))
        t_dec += time.perf_counter() - t0
        n_dec += 1
        assert rc == 0, f"llama_decode {rc}"
        n_past += 1
    return out, t_dec, n_dec


def make_image(w: int, h: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 255 * (((x // 32) + (y // 32)) % 2)
    return np.stack([r, g, b], axis=-1).round().clip(0, 255).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True)
    ap.add_argument("--mmproj")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-gen", type=int, default=16)
    ap.add_argument("--image", default="640x480", help="synthetic test image size WxH (default 640x480)")
    ap.add_argument("--prefill-bench", type=int, default=512, help="time a one-batch prefill of N tokens (0: skip)")
    ap.add_argument("--verbose", action="store_true", help="show llama.cpp's log")
    args = ap.parse_args()
    _logger.set_verbose(args.verbose)

    llama_cpp.llama_backend_init()
    mp = llama_cpp.llama_model_default_params()
    mp.n_gpu_layers = 0
    model = llama_cpp.llama_model_load_from_file(args.text.encode(), mp)
    check(bool(model), f"llama.cpp loads {args.text}")
    if not model:
        return 1
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    n_embd = llama_cpp.llama_model_n_embd(model)
    print(f"  n_vocab {n_vocab}, n_embd {n_embd}, eos {llama_cpp.llama_vocab_eos(vocab)}, "
          f"eot {llama_cpp.llama_vocab_eot(vocab)}, bos {llama_cpp.llama_vocab_bos(vocab)}")

    cp = llama_cpp.llama_context_default_params()
    cp.n_ctx = 4096
    cp.n_batch = 2048
    cp.n_ubatch = 512
    cp.n_threads = args.threads
    cp.n_threads_batch = args.threads
    ctx = llama_cpp.llama_init_from_model(model, cp)
    check(bool(ctx), "llama context")
    mem = llama_cpp.llama_get_memory(ctx)

    # ---- text only --------------------------------------------------------------------
    prompt = "<|im_start|>User: Describe a sunny day at the beach in one sentence.<end_of_utterance>\nAssistant:"
    toks = tokenize(vocab, prompt)
    check(toks[0] == 1 and 49279 in toks, f"special tokens parsed ({len(toks)} prompt tokens, first {toks[:3]})")
    arr = (llama_cpp.llama_token * len(toks))(*toks)
    t0 = time.perf_counter()
    rc = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(toks)))
    t_pre = time.perf_counter() - t0
    check(rc == 0, "text prefill")
    lg = logits_last(ctx, n_vocab)
    print(f"  prompt logits: {stats(lg)}")
    check(bool(np.isfinite(lg).all()) and 0.1 < lg.std() < 100, "text logits finite, std in (0.1, 100)")
    gen, t_dec, n_dec = generate(ctx, vocab, n_vocab, len(toks), args.n_gen)
    print(f"  greedy: {gen}")
    print(f"  text:   {''.join(piece(vocab, t) for t in gen)!r}")
    print(f"  timing: text prefill {len(toks)} tok {1e3 * t_pre:.1f} ms ({len(toks) / t_pre:.0f} tok/s); "
          f"decode {n_dec} tok {1e3 * t_dec / max(n_dec, 1):.2f} ms/tok ({n_dec / max(t_dec, 1e-9):.0f} tok/s)")

    # one-batch prefill of n tokens (speed reference for the decoder alone)
    if args.prefill_bench > 0:
        llama_cpp.llama_memory_clear(mem, True)
        n = args.prefill_bench
        ids = [1] + [int(t) for t in np.random.default_rng(0).integers(17, 49152, n - 1)]
        arr = (llama_cpp.llama_token * n)(*ids)
        t0 = time.perf_counter()
        rc = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, n))
        t_pre = time.perf_counter() - t0
        check(rc == 0 and bool(np.isfinite(logits_last(ctx, n_vocab)).all()), f"{n}-token prefill")
        print(f"  timing: {n}-token prefill (one batch) {1e3 * t_pre:.0f} ms ({n / t_pre:.0f} tok/s)")

    # ---- vision -----------------------------------------------------------------------
    if args.mmproj:
        llama_cpp.llama_memory_clear(mem, True)
        mparams = mtmd.mtmd_context_params_default()
        mparams.use_gpu = False
        mparams.n_threads = args.threads
        mparams.print_timings = args.verbose
        mtmd.mtmd_log_set(_logger.llama_log_callback, None)        # route mtmd logs through
        mtmd.mtmd_helper_log_set(_logger.llama_log_callback, None)  # llama-cpp-python's logger
        t0 = time.perf_counter()
        mctx = mtmd.mtmd_init_from_file(args.mmproj.encode(), model, mparams)
        check(bool(mctx), f"mtmd loads {args.mmproj} ({time.perf_counter() - t0:.2f}s incl. warmup)")
        if not mctx:
            return 1
        w, h = (int(s) for s in args.image.lower().split("x"))
        img = make_image(w, h)
        data = (ctypes.c_uint8 * img.size).from_buffer_copy(img.tobytes())
        bmp = mtmd.mtmd_bitmap_init(w, h, data)
        marker = mtmd.mtmd_default_marker().decode()
        text = f"<|im_start|>User:{marker}Describe this image.<end_of_utterance>\nAssistant:"
        itxt = mtmd.mtmd_input_text(text.encode(), len(text.encode()), False, True)
        chunks = mtmd.mtmd_input_chunks_init()
        bmps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bmp)
        rc = mtmd.mtmd_tokenize(mctx, chunks, ctypes.byref(itxt), bmps, 1)
        check(rc == 0, "mtmd_tokenize")
        n_chunks = mtmd.mtmd_input_chunks_size(chunks)
        # Evaluate chunk by chunk so encode (vision tower + projector) and prefill (text
        # decoder over text tokens and image embeddings) are timed separately.
        n_img_chunks, n_img_tok, n_txt_tok, enc_ms, t_prefill = 0, 0, 0, [], 0.0
        all_ok = True
        n_past = llama_cpp.llama_pos(0)
        for i in range(n_chunks):
            ch = mtmd.mtmd_input_chunks_get(chunks, i)
            typ = mtmd.mtmd_input_chunk_get_type(ch)
            n = mtmd.mtmd_input_chunk_get_n_tokens(ch)
            new_past = llama_cpp.llama_pos(n_past.value)  # the text path adds to *new_n_past
            if typ != mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                n_txt_tok += n
                t0 = time.perf_counter()
                rc = mtmd.mtmd_helper_eval_chunk_single(mctx, ctx, ch, n_past.value, 0, cp.n_batch,
                                                        i == n_chunks - 1, ctypes.byref(new_past))
                t_prefill += time.perf_counter() - t0
                all_ok &= rc == 0
                n_past = new_past
                continue
            n_img_chunks += 1
            n_img_tok += n
            t0 = time.perf_counter()
            rc = mtmd.mtmd_encode_chunk(mctx, ch)
            enc_ms.append(1e3 * (time.perf_counter() - t0))
            embd = mtmd.mtmd_get_output_embd(mctx)
            emb = np.ctypeslib.as_array(embd, shape=(n * n_embd,))
            ok = rc == 0 and n == 64 and bool(np.isfinite(emb).all()) and emb.std() > 0
            if n_img_chunks == 1:
                print(f"  tile 0 embeddings ({n} x {n_embd}): {stats(emb)}")
            t0 = time.perf_counter()
            rc = mtmd.mtmd_helper_decode_image_chunk(mctx, ctx, ch, embd, n_past.value, 0, cp.n_batch,
                                                     ctypes.byref(new_past), mtmd.mtmd_helper_post_decode_callback(), None)
            t_prefill += time.perf_counter() - t0
            all_ok &= ok and rc == 0
            n_past = new_past
        print(f"  image {w}x{h}: {n_chunks} chunks, {n_img_chunks} image chunks, {n_img_tok} image tokens, "
              f"{n_txt_tok} text tokens, n_past {n_past.value}")
        check(all_ok and n_img_chunks > 0, "every tile encodes to 64 finite, non-constant embeddings; prompt decodes")
        lg = logits_last(ctx, n_vocab)
        print(f"  image-prompt logits: {stats(lg)}")
        check(bool(np.isfinite(lg).all()) and 0.1 < lg.std() < 100, "image-prompt logits finite, std in (0.1, 100)")
        gen, t_dec, n_dec = generate(ctx, vocab, n_vocab, new_past.value, args.n_gen)
        print(f"  caption greedy: {gen}")
        print(f"  caption text:   {''.join(piece(vocab, t) for t in gen)!r}")
        print(f"  timing: tile encode {np.median(enc_ms):.1f} ms median (min {min(enc_ms):.1f}, "
              f"max {max(enc_ms):.1f}) over {len(enc_ms)} tiles; prefill {n_past.value} positions "
              f"{1e3 * t_prefill:.0f} ms ({n_past.value / t_prefill:.0f} tok/s); "
              f"decode {n_dec} tok {1e3 * t_dec / max(n_dec, 1):.2f} ms/tok ({n_dec / max(t_dec, 1e-9):.0f} tok/s)")
        mtmd.mtmd_input_chunks_free(chunks)
        mtmd.mtmd_bitmap_free(bmp)
        mtmd.mtmd_free(mctx)

    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    print("FAILED: " + "; ".join(failures) if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
