"""The llama.cpp side of the reference harness, through llama-cpp-python's ctypes bindings
(llama.h). Used only to generate fixtures, never by the engine."""
from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager

import numpy as np
import llama_cpp as L

THREADS = 2


def llama_info() -> dict:
    from importlib.metadata import version
    return {"llama_cpp_python": version("llama-cpp-python"), "threads": THREADS,
            "system": L.llama_print_system_info().decode().strip()}


_silenced = False


def quiet() -> None:
    """llama.cpp logs every tensor at load; keep the generator's output readable."""
    global _silenced
    if _silenced:
        return
    cb = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda *a: None)
    quiet._keep = cb  # the callback must outlive every llama.cpp call
    L.llama_log_set(cb, None)
    _silenced = True


class Model:
    def __init__(self, path: str, n_ctx: int = 2048):
        quiet()
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        self.model = L.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.n_ctx = n_ctx
        self.path = path

    def tokenize(self, text: str, parse_special: bool, add_special: bool = False) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            raise RuntimeError(f"tokenize failed ({n})")
        return list(buf[:n])

    def piece(self, token: int, special: bool = True) -> bytes:
        buf = ctypes.create_string_buffer(256)
        n = L.llama_token_to_piece(self.vocab, token, buf, 256, 0, special)
        return buf.raw[:n]

    @contextmanager
    def context(self, n_batch: int = 2048):
        cp = L.llama_context_default_params()
        cp.n_ctx = self.n_ctx
        cp.n_batch = n_batch
        cp.n_ubatch = min(n_batch, 512)
        cp.n_threads = THREADS
        cp.n_threads_batch = THREADS
        ctx = L.llama_init_from_model(self.model, cp)
        if not ctx:
            raise RuntimeError("llama.cpp could not create a context")
        try:
            yield ctx
        finally:
            L.llama_free(ctx)

    def context_settings(self) -> dict:
        cp = L.llama_context_default_params()
        return {"n_ctx": self.n_ctx, "n_ubatch": min(2048, 512), "type_k": int(cp.type_k), "type_v": int(cp.type_v),
                "flash_attn_type": int(cp.flash_attn_type), "flash_attn_type_name": "auto" if cp.flash_attn_type == -1 else str(cp.flash_attn_type)}

    def _decode_batch(self, ctx, tokens: list[int], pos0: int, every: bool) -> None:
        """One llama_decode of tokens at positions pos0...; logits for every position or the last."""
        n = len(tokens)
        batch = L.llama_batch_init(n, 0, 1)
        try:
            for i, t in enumerate(tokens):
                batch.token[i] = t
                batch.pos[i] = pos0 + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = 1 if every or i == n - 1 else 0
            batch.n_tokens = n
            rc = L.llama_decode(ctx, batch)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
        finally:
            L.llama_batch_free(batch)

    def decode(self, ctx, tokens: list[int], pos0: int) -> np.ndarray:
        """Decodes tokens at positions pos0... in one batch; returns the last position's logits."""
        self._decode_batch(ctx, tokens, pos0, every=False)
        ptr = L.llama_get_logits_ith(ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def decode_all(self, ctx, tokens: list[int]) -> np.ndarray:
        """Decodes tokens at positions 0... in one batch with logits for every position."""
        self._decode_batch(ctx, tokens, 0, every=True)
        return np.stack([np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(self.n_vocab,)).copy()
                         for i in range(len(tokens))])

    def greedy(self, prompt: list[int], steps: int) -> tuple[np.ndarray, list[int]]:
        """Greedy generation: logits[k] is the distribution the k-th generated token is chosen
        from (k = 0 after the prompt). Generation does not stop at end-of-generation tokens, so
        every case has exactly `steps` steps to compare."""
        logits = np.zeros((steps, self.n_vocab), dtype=np.float32)
        chosen: list[int] = []
        with self.context() as ctx:
            cur = self.decode(ctx, prompt, 0)
            for k in range(steps):
                logits[k] = cur
                tok = int(np.argmax(cur))
                chosen.append(tok)
                if k + 1 < steps:
                    cur = self.decode(ctx, [tok], len(prompt) + k)
        return logits, chosen


def apply_chat_template(template: str, messages: list[tuple[str, str]], add_assistant: bool = True) -> str:
    """llama.cpp's built-in (non-Jinja) chat formatting, as llama-cli and llama-server use it."""
    arr = (L.llama_chat_message * len(messages))()
    keep = []
    for i, (role, content) in enumerate(messages):
        r, c = role.encode(), content.encode()
        keep += [r, c]
        arr[i].role = r
        arr[i].content = c
    cap = 4096 + sum(len(c) for _, c in messages) * 2
    buf = ctypes.create_string_buffer(cap)
    n = L.llama_chat_apply_template(template.encode(), arr, len(messages), add_assistant, buf, cap)
    if n < 0:
        raise RuntimeError("llama.cpp does not recognise this chat template")
    return buf.raw[:n].decode("utf-8")
