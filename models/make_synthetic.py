#!/usr/bin/env python3
"""Write synthetic SmolVLM GGUF pairs (text model + mmproj) with seeded random weights.

The files have SmolVLM's exact architecture, GGUF metadata, tensor names, shapes and
per-tensor types -- the ones llama.cpp's convert_hf_to_gguf.py writes for
HuggingFaceTB/SmolVLM-*-Instruct (text: LlamaModel via VLlama3ForCausalLM; mmproj:
SmolVLMModel / MmprojModel) -- but random weights, so llama.cpp and our engine can be
compared without downloading the real model.

    python3 models/make_synthetic.py --preset tiny --types f16,q8_0
    python3 models/make_synthetic.py --preset smolvlm-256m --types f16,q8_0,q4_k_m --out models/

writes <preset>-text-<type>.gguf and <preset>-mmproj-<type>.gguf (mmproj only for f16 and
q8_0; q4_k_m is text only). With --no-preproc-size the mmproj omits
clip.vision.preproc_image_size (as the first official SmolVLM GGUFs did) and is written as
<preset>-mmproj-<type>-nopreproc.gguf.

Only numpy and gguf-py are needed for f16/q8_0; the output is byte-for-byte deterministic.
q4_k_m is made from the f16 text file by llama.cpp's own quantizer
(llama_cpp.llama_model_quantize, LLAMA_FTYPE_MOSTLY_Q4_K_M).

The tokenizer (49152 tokens, token types, 48900 merges, pre-tokenizer "smollm") is copied
from the real SmolLM2-135M-Instruct GGUF (models/fetch-smollm2.sh); SmolVLM's 128 added
tokens (ids 49152..49279) are appended as CONTROL tokens, as the converter marks every
added token whose tokenizer_config entry has "special": true.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT

HERE = Path(__file__).resolve().parent
DEFAULT_TOKENIZER_GGUF = HERE / "SmolLM2-135M-Instruct.Q4_1.gguf"

# ---------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextCfg:
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    head_dim: int
    n_vocab: int = 49280
    n_ctx: int = 8192
    rope_theta: float = 100000.0
    rms_eps: float = 1e-5


@dataclass(frozen=True)
class VisionCfg:
    n_embd: int
    n_layer: int
    n_head: int
    n_ff: int
    image_size: int = 512
    patch_size: int = 16
    eps: float = 1e-6
    scale_factor: int = 4
    preproc_image_size: int = 2048  # preprocessor_config.json size.longest_edge


@dataclass(frozen=True)
class Preset:
    name: str
    model_name: str      # general.name
    size_label: str      # general.size_label
    text: TextCfg
    vision: VisionCfg


PRESETS: dict[str, Preset] = {
    # Small widths, but the real vocabulary, image size, patch size and scale factor, so the
    # 2048-px slicing and the 64-tokens-per-tile layout run exactly as for the real models.
    # n_ff = 256 so ffn_down rows (ne0 = n_ff) are a multiple of 256 and Q4_K_M uses real
    # k-quants there (64-wide rows fall back to legacy types in llama.cpp's quantizer).
    "tiny": Preset(
        "tiny", "SmolVLM Tiny Instruct (synthetic)", "tiny",
        TextCfg(n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=256, head_dim=16),
        VisionCfg(n_embd=64, n_layer=2, n_head=4, n_ff=256),
    ),
    # Every weight type on rows that are multiples of 256 (K-quant blocks in every matrix
    # product, the output head included): width 256, ffn 768, GQA 2:1. Text only. Eight layers,
    # so float-order differences in a kernel grow past the fixtures' tolerances (a 2-layer
    # model hides them).
    "kquant": Preset(
        "kquant", "SmolVLM K-quant test model (synthetic)", "kquant",
        TextCfg(n_embd=256, n_layer=8, n_head=4, n_head_kv=2, n_ff=768, head_dim=64),
        VisionCfg(n_embd=64, n_layer=2, n_head=4, n_ff=256),
    ),
    # HuggingFaceTB/SmolVLM-256M-Instruct: SmolLM2-135M text + SigLIP-B/16 @ 512.
    "smolvlm-256m": Preset(
        "smolvlm-256m", "SmolVLM 256M Instruct (synthetic)", "256M",
        TextCfg(n_embd=576, n_layer=30, n_head=9, n_head_kv=3, n_ff=1536, head_dim=64),
        VisionCfg(n_embd=768, n_layer=12, n_head=12, n_ff=3072),
    ),
    # HuggingFaceTB/SmolVLM-500M-Instruct: SmolLM2-360M text + SigLIP-B/16 @ 512.
    "smolvlm-500m": Preset(
        "smolvlm-500m", "SmolVLM 500M Instruct (synthetic)", "500M",
        TextCfg(n_embd=960, n_layer=32, n_head=15, n_head_kv=5, n_ff=2560, head_dim=64),
        VisionCfg(n_embd=768, n_layer=12, n_head=12, n_ff=3072),
    ),
}

# chat_template.json / tokenizer_config.json of SmolVLM-256M-Instruct (identical in both).
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# Special ids as convert_hf_to_gguf's SpecialVocab finds them: tokenizer_config.json's
# bos_token <|im_start|>, eos_token <end_of_utterance>, unk_token <|endoftext|>,
# pad_token <|im_end|> (looked up in tokenizer.json's added_tokens; these take precedence
# over config.json's text_config bos/eos/pad ids 1/2/2).
BOS_ID, EOS_ID, UNK_ID, PAD_ID = 1, 49279, 0, 2

TYPES = ("f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m")
FT = gguf.LlamaFileType
FILE_TYPE = {"f16": FT.MOSTLY_F16, "bf16": FT.MOSTLY_BF16, "q8_0": FT.MOSTLY_Q8_0, "q4_0": FT.MOSTLY_Q4_0,
             "q4_1": FT.MOSTLY_Q4_1, "q5_0": FT.MOSTLY_Q5_0, "q5_1": FT.MOSTLY_Q5_1,
             "q4_k": FT.MOSTLY_Q4_K_S, "q5_k": FT.MOSTLY_Q5_K_S, "q6_k": FT.MOSTLY_Q6_K}
QTYPE = {"f16": QT.F16, "bf16": QT.BF16, "q8_0": QT.Q8_0, "q4_0": QT.Q4_0, "q4_1": QT.Q4_1, "q5_0": QT.Q5_0,
         "q5_1": QT.Q5_1, "q4_k": QT.Q4_K, "q5_k": QT.Q5_K, "q6_k": QT.Q6_K}


def added_tokens() -> list[str]:
    """SmolVLM's added_tokens.json, ids 49152..49279, in id order."""
    toks = ["<global-img>"]
    toks += [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    toks += ["<fake_token_around_image>", "<image>"]
    toks += [f"<|reserved_special_token_{i}|>" for i in range(88)]
    toks += ["<end_of_utterance>"]
    assert len(toks) == 128 and toks.index("<image>") == 49190 - 49152
    return toks


# ---------------------------------------------------------------------------------------
# Tokenizer (copied from the real SmolLM2 GGUF)
# ---------------------------------------------------------------------------------------


@dataclass
class Vocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str


def load_vocab(path: Path, n_vocab: int) -> Vocab:
    if not path.is_file():
        sys.exit(f"error: {path} not found; run models/fetch-smollm2.sh first (or pass --tokenizer-from)")
    r = gguf.GGUFReader(path)
    f = r.fields
    model = f["tokenizer.ggml.model"].contents()
    pre = f["tokenizer.ggml.pre"].contents()
    tokens = f["tokenizer.ggml.tokens"].contents()
    types = [int(t) for t in f["tokenizer.ggml.token_type"].contents()]
    merges = f["tokenizer.ggml.merges"].contents()
    if model != "gpt2" or pre != "smollm" or len(tokens) != 49152 or len(merges) != 48900:
        sys.exit(f"error: {path} is not the SmolLM2 tokenizer (model={model} pre={pre} "
                 f"tokens={len(tokens)} merges={len(merges)})")
    extra = added_tokens()
    tokens = list(tokens) + extra
    types = types + [int(gguf.TokenType.CONTROL)] * len(extra)
    assert len(tokens) == n_vocab
    return Vocab(tokens, types, list(merges), pre)


# ---------------------------------------------------------------------------------------
# Seeded weights
# ---------------------------------------------------------------------------------------


def rng_for(preset: str, name: str) -> np.random.Generator:
    """Each tensor gets its own stream, independent of generation order."""
    digest = hashlib.sha256(f"swift-smolvlm-synthetic/v1/{preset}/{name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def normal(preset: str, name: str, shape: tuple[int, ...], std: float, mean: float = 0.0) -> np.ndarray:
    x = rng_for(preset, name).standard_normal(shape, dtype=np.float32)
    x *= np.float32(std)
    if mean:
        x += np.float32(mean)
    return x


@dataclass
class T:
    """One tensor: numpy shape is ggml's ne reversed (rows = last ggml dim)."""
    name: str
    shape: tuple[int, ...]
    std: float
    mean: float = 0.0
    keep_f32: bool = False   # converter forces F32 (norms, biases, 1-D, SmolVLM ".embeddings.")


def text_tensors(c: TextCfg) -> list[T]:
    d, hd = c.n_embd, c.head_dim
    q_out, kv_out = c.n_head * hd, c.n_head_kv * hd
    res = 0.5 / np.sqrt(c.n_layer)   # residual-branch damping (GPT-2 style) keeps the stream O(1)
    per_layer = {
        # HF order inside a layer (sorted safetensors names): input_layernorm, mlp.down/gate/up,
        # post_attention_layernorm, self_attn.k/o/q/v
        "attn_norm.weight": T("", (d,), 0.1, 1.0, True),
        "ffn_down.weight": T("", (d, c.n_ff), res / np.sqrt(c.n_ff)),
        "ffn_gate.weight": T("", (c.n_ff, d), 1 / np.sqrt(d)),
        "ffn_up.weight": T("", (c.n_ff, d), 1 / np.sqrt(d)),
        "ffn_norm.weight": T("", (d,), 0.1, 1.0, True),
        "attn_k.weight": T("", (kv_out, d), 1 / np.sqrt(d)),
        "attn_output.weight": T("", (d, q_out), res / np.sqrt(q_out)),
        "attn_q.weight": T("", (q_out, d), 1 / np.sqrt(d)),
        "attn_v.weight": T("", (kv_out, d), 1 / np.sqrt(d)),
    }
    # Tensor order follows the converter: HF names sorted as strings
    # (lm_head, model.text_model.embed_tokens, layers.0, layers.1, layers.10, ..., norm).
    out = [
        T("output.weight", (c.n_vocab, d), 2.0 / np.sqrt(d)),   # logits std ~ 2
        T("token_embd.weight", (c.n_vocab, d), 0.05),
    ]
    for il in sorted(range(c.n_layer), key=str):
        for suffix, t in per_layer.items():
            out.append(T(f"blk.{il}.{suffix}", t.shape, t.std, t.mean, t.keep_f32))
    out.append(T("output_norm.weight", (d,), 0.1, 1.0, True))
    return out


def vision_tensors(v: VisionCfg, n_embd_text: int) -> list[T]:
    d, ff = v.n_embd, v.n_ff
    n_pos = (v.image_size // v.patch_size) ** 2
    patch_in = 3 * v.patch_size * v.patch_size
    proj_in = d * v.scale_factor * v.scale_factor
    res = 0.5 / np.sqrt(v.n_layer)
    per_layer = {
        # sorted HF names: layer_norm1, layer_norm2, mlp.fc1 (= ffn_up), mlp.fc2 (= ffn_down),
        # self_attn.k_proj, out_proj, q_proj, v_proj; ".bias" sorts before ".weight"
        "ln1.bias": T("", (d,), 0.02, 0.0, True),
        "ln1.weight": T("", (d,), 0.1, 1.0, True),
        "ln2.bias": T("", (d,), 0.02, 0.0, True),
        "ln2.weight": T("", (d,), 0.1, 1.0, True),
        "ffn_up.bias": T("", (ff,), 0.02, 0.0, True),
        "ffn_up.weight": T("", (ff, d), 1 / np.sqrt(d)),
        "ffn_down.bias": T("", (d,), 0.02, 0.0, True),
        "ffn_down.weight": T("", (d, ff), res / np.sqrt(ff)),
        "attn_k.bias": T("", (d,), 0.02, 0.0, True),
        "attn_k.weight": T("", (d, d), 1 / np.sqrt(d)),
        "attn_out.bias": T("", (d,), 0.02, 0.0, True),
        "attn_out.weight": T("", (d, d), res / np.sqrt(d)),
        "attn_q.bias": T("", (d,), 0.02, 0.0, True),
        "attn_q.weight": T("", (d, d), 1 / np.sqrt(d)),
        "attn_v.bias": T("", (d,), 0.02, 0.0, True),
        "attn_v.weight": T("", (d, d), 1 / np.sqrt(d)),
    }
    out = [
        # model.connector.modality_projection.proj (no bias)
        T("mm.model.fc.weight", (n_embd_text, proj_in), 1 / np.sqrt(proj_in)),
        # model.vision_model.embeddings.*: SmolVLMModel.tensor_force_quant keeps these F32
        T("v.patch_embd.bias", (d,), 0.02, 0.0, True),
        T("v.patch_embd.weight", (d, 3, v.patch_size, v.patch_size), 1 / np.sqrt(patch_in), 0.0, True),
        T("v.position_embd.weight", (n_pos, d), 0.2, 0.0, True),
    ]
    for il in sorted(range(v.n_layer), key=str):
        for suffix, t in per_layer.items():
            out.append(T(f"v.blk.{il}.{suffix}", t.shape, t.std, t.mean, t.keep_f32))
    out += [
        T("v.post_ln.bias", (d,), 0.02, 0.0, True),
        T("v.post_ln.weight", (d,), 0.1, 1.0, True),
    ]
    return out


def encode(x: np.ndarray, t: T, typ: str) -> tuple[np.ndarray, QT]:
    """The converter's per-tensor choice: 1-D, *_norm.weight and forced tensors F32, the
    rest the outtype (token_embd and output too: only TQ1_0/TQ2_0 outtypes force them F16)."""
    if t.keep_f32 or len(t.shape) <= 1 or t.name.endswith("_norm.weight"):
        return x, QT.F32
    qt = QTYPE[typ]
    if qt == QT.F16:
        return x.astype(np.float16), QT.F16
    if qt in K_QUANTIZERS:
        if x.shape[-1] % 256:
            return x.astype(np.float16), QT.F16
        blocks = K_QUANTIZERS[qt](x)
        # The layout self-check: gguf-py's dequantization must give the weights back.
        err = np.sqrt(np.mean((gguf.quants.dequantize(blocks, qt) - x) ** 2)) / max(float(x.std()), 1e-30)
        if not err < 0.15:
            raise AssertionError(f"{t.name}: {qt.name} blocks decode with relative RMS error {err:.3f}")
        return blocks, qt
    try:
        return gguf.quants.quantize(x, qt), qt
    except gguf.QuantError:      # row not a multiple of 32: the converter falls back to F16
        return x.astype(np.float16), QT.F16


# ---------------------------------------------------------------------------------------
# K-quant blocks (gguf-py can read them but not write them)
# ---------------------------------------------------------------------------------------
# A plain round-to-nearest quantizer, not llama.cpp's error-minimising search: both engines
# read the same bytes, so any valid blocks test the arithmetic, and these stay close to the
# f32 weights (checked against gguf-py's dequantization below). Layouts are ggml's.


def _f16(v: np.ndarray) -> np.ndarray:
    return v.astype(np.float16)


def _pack_scales_k4(sc: np.ndarray, mn: np.ndarray) -> np.ndarray:
    """8 six-bit scales and mins per super-block -> ggml's 12-byte get_scale_min_k4 layout."""
    out = np.zeros(sc.shape[:-1] + (12,), dtype=np.uint8)
    out[..., 0:4] = sc[..., 0:4] | ((sc[..., 4:8] >> 4) << 6)
    out[..., 4:8] = mn[..., 0:4] | ((mn[..., 4:8] >> 4) << 6)
    out[..., 8:12] = (sc[..., 4:8] & 0xF) | ((mn[..., 4:8] & 0xF) << 4)
    return out


def _scale_min_k(x: np.ndarray, qmax: int):
    """Asymmetric 32-element sub-blocks: w = d*sc*q - dmin*m, q in 0..qmax."""
    sub = x.reshape(x.shape[0], 8, 32)
    lo = np.minimum(sub.min(axis=-1), 0)
    scale = (sub.max(axis=-1) - lo) / qmax
    d = _f16(scale.max(axis=-1) / 63)
    dmin = _f16((-lo).max(axis=-1) / 63)
    df, mf = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sc = np.clip(np.rint(np.divide(scale, df, out=np.zeros_like(scale), where=df > 0)), 0, 63).astype(np.uint8)
    mn = np.clip(np.rint(np.divide(-lo, mf, out=np.zeros_like(lo), where=mf > 0)), 0, 63).astype(np.uint8)
    step = (df * sc)[..., None]
    q = np.divide(sub + (mf * mn)[..., None], step, out=np.zeros_like(sub), where=step > 0)
    q = np.clip(np.rint(q), 0, qmax).astype(np.uint8)
    return d, dmin, _pack_scales_k4(sc, mn), q


def quantize_q4_k(w: np.ndarray) -> np.ndarray:
    x = w.reshape(-1, 256).astype(np.float32)
    d, dmin, scales, q = _scale_min_k(x, 15)
    q = q.reshape(-1, 4, 2, 32)
    qs = (q[:, :, 0] | (q[:, :, 1] << 4)).reshape(-1, 128)
    blocks = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2), scales, qs], axis=1)
    return blocks.reshape(w.shape[0], -1)


def quantize_q5_k(w: np.ndarray) -> np.ndarray:
    x = w.reshape(-1, 256).astype(np.float32)
    d, dmin, scales, q = _scale_min_k(x, 31)
    qh = np.zeros((x.shape[0], 32), dtype=np.uint8)
    for sb in range(8):
        qh |= ((q[:, sb] >> 4) & 1) << sb
    low = (q & 0xF).reshape(-1, 4, 2, 32)
    qs = (low[:, :, 0] | (low[:, :, 1] << 4)).reshape(-1, 128)
    blocks = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2), scales, qh, qs], axis=1)
    return blocks.reshape(w.shape[0], -1)


def quantize_q6_k(w: np.ndarray) -> np.ndarray:
    x = w.reshape(-1, 256).astype(np.float32)
    groups = x.reshape(-1, 16, 16)
    scale = np.abs(groups).max(axis=-1) / 31
    d = _f16(scale.max(axis=-1) / 127)
    df = d.astype(np.float32)[:, None]
    sc = np.clip(np.rint(np.divide(scale, df, out=np.zeros_like(scale), where=df > 0)), -128, 127).astype(np.int8)
    step = (df * sc)[..., None]
    q = np.divide(groups, step, out=np.zeros_like(groups), where=step != 0)
    q = (np.clip(np.rint(q), -32, 31) + 32).astype(np.uint8).reshape(-1, 2, 4, 32)  # half, run, l
    ql = np.concatenate([q[:, :, 0] & 0xF | (q[:, :, 2] & 0xF) << 4, q[:, :, 1] & 0xF | (q[:, :, 3] & 0xF) << 4], axis=2)
    qh = (q[:, :, 0] >> 4) | (q[:, :, 1] >> 4) << 2 | (q[:, :, 2] >> 4) << 4 | (q[:, :, 3] >> 4) << 6
    blocks = np.concatenate([ql.reshape(-1, 128), qh.reshape(-1, 64), sc.view(np.uint8), d.view(np.uint8).reshape(-1, 2)], axis=1)
    return blocks.reshape(w.shape[0], -1)


K_QUANTIZERS = {QT.Q4_K: quantize_q4_k, QT.Q5_K: quantize_q5_k, QT.Q6_K: quantize_q6_k}


# ---------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------


def add_general(w: gguf.GGUFWriter, p: Preset, gtype: str) -> None:
    # convert_hf_to_gguf: general.type, then Metadata.set_gguf_meta_model
    w.add_type(gtype)
    w.add_name(p.model_name)
    w.add_finetune("Instruct")
    w.add_basename("SmolVLM")
    w.add_description(
        f"Synthetic SmolVLM ({p.name}): real architecture, metadata and tokenizer, seeded random "
        f"weights (swift-smolvlm models/make_synthetic.py). Not a trained model.")
    w.add_size_label(p.size_label)
    w.add_license("apache-2.0")


def write_text(path: Path, p: Preset, typ: str, vocab: Vocab, cache: dict[str, np.ndarray]) -> None:
    c = p.text
    w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    for t in text_tensors(c):
        x = cache[t.name] if t.name in cache else normal(p.name, t.name, t.shape, t.std, t.mean)
        data, qt = encode(x, t, typ)
        w.add_tensor(t.name, data, raw_dtype=qt)

    add_general(w, p, gguf.GGUFType.MODEL)
    # TextModel.set_gguf_parameters + LlamaModel.set_gguf_parameters, in their order
    w.add_block_count(c.n_layer)
    w.add_context_length(c.n_ctx)
    w.add_embedding_length(c.n_embd)
    w.add_feed_forward_length(c.n_ff)
    w.add_head_count(c.n_head)
    w.add_head_count_kv(c.n_head_kv)
    w.add_rope_freq_base(c.rope_theta)
    w.add_layer_norm_rms_eps(c.rms_eps)
    w.add_key_length(c.head_dim)      # text_config has head_dim -> attention.key/value_length
    w.add_value_length(c.head_dim)
    w.add_file_type(FILE_TYPE[typ])
    w.add_vocab_size(c.n_vocab)
    w.add_rope_dimension_count(c.head_dim)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    # LlamaModel.set_vocab -> _set_vocab_gpt2 -> SpecialVocab.add_to_gguf
    w.add_add_space_prefix(False)     # tokenizer_config add_prefix_space
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(vocab.pre)
    w.add_token_list(vocab.tokens)
    w.add_token_types(vocab.types)
    w.add_token_merges(vocab.merges)
    w.add_bos_token_id(BOS_ID)
    w.add_eos_token_id(EOS_ID)
    w.add_unk_token_id(UNK_ID)
    w.add_pad_token_id(PAD_ID)
    # tokenizer.json's post_processor is ByteLevel -> add_bos/add_eos False (no add_*_token
    # keys in SmolVLM's tokenizer_config.json)
    w.add_add_bos_token(False)
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    _flush(w, path)


def write_mmproj(path: Path, p: Preset, typ: str, preproc_size: bool, cache: dict[str, np.ndarray]) -> None:
    v = p.vision
    assert v.n_embd % v.n_head == 0 and v.n_ff != v.n_embd
    w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.MMPROJ])
    for t in vision_tensors(v, p.text.n_embd):
        x = cache[t.name] if t.name in cache else normal(p.name, t.name, t.shape, t.std, t.mean)
        data, qt = encode(x, t, typ)
        w.add_tensor(t.name, data, raw_dtype=qt)

    add_general(w, p, gguf.GGUFType.MMPROJ)
    # MmprojModel.set_gguf_parameters
    w.add_file_type(FILE_TYPE[typ])
    w.add_clip_has_vision_encoder(True)
    w.add_vision_projection_dim(p.text.n_embd)
    w.add_vision_image_size(v.image_size)
    w.add_vision_patch_size(v.patch_size)
    w.add_vision_embedding_length(v.n_embd)
    w.add_vision_feed_forward_length(v.n_ff)
    w.add_vision_block_count(v.n_layer)
    w.add_vision_head_count(v.n_head)
    w.add_vision_image_mean([0.5, 0.5, 0.5])
    w.add_vision_image_std([0.5, 0.5, 0.5])
    # SmolVLMModel.set_gguf_parameters
    w.add_clip_projector_type(gguf.VisionProjectorType.IDEFICS3)
    w.add_vision_attention_layernorm_eps(v.eps)
    w.add_vision_projector_scale_factor(v.scale_factor)
    w.add_vision_use_gelu(True)
    if preproc_size:
        w.add_vision_preproc_image_size(v.preproc_image_size)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _flush(w, path)


def _flush(w: gguf.GGUFWriter, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    w.path = tmp
    w.write_header_to_file(path=tmp)
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    os.replace(tmp, path)


def quantize_q4_k_m(src: Path, dst: Path, nthread: int) -> None:
    try:
        import llama_cpp
        from llama_cpp import _logger
    except ImportError:
        sys.exit("error: q4_k_m needs llama-cpp-python (pip install llama-cpp-python==0.3.36)")
    _logger.set_verbose(False)        # llama.cpp's log: errors only
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = nthread
    tmp = dst.with_name(dst.name + ".part")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), llama_cpp.byref(params))
    if rc != 0:
        sys.exit(f"error: llama_model_quantize failed ({rc}) for {src}")
    os.replace(tmp, dst)


# ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--types", default="f16,q8_0", help="comma list of f16,q8_0,q4_k_m (default f16,q8_0)")
    ap.add_argument("--out", type=Path, default=HERE, help="output directory (default: models/)")
    ap.add_argument("--parts", default="text,mmproj", help="comma list of text,mmproj (default both)")
    ap.add_argument("--no-preproc-size", action="store_true",
                    help="omit clip.vision.preproc_image_size; mmproj is named <preset>-mmproj-<type>-nopreproc.gguf")
    ap.add_argument("--tokenizer-from", type=Path, default=DEFAULT_TOKENIZER_GGUF,
                    help="GGUF to copy the SmolLM2 tokenizer from (default: models/SmolLM2-135M-Instruct.Q4_1.gguf)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for the Q4_K_M quantizer")
    args = ap.parse_args()

    p = PRESETS[args.preset]
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    parts = {s.strip() for s in args.parts.split(",") if s.strip()}
    for t in types:
        if t not in TYPES:
            ap.error(f"unknown type {t!r}; choose from {', '.join(TYPES)}")
    if not parts <= {"text", "mmproj"} or not parts:
        ap.error("--parts takes text and/or mmproj")
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "-nopreproc" if args.no_preproc_size else ""

    def done(path: Path, t0: float) -> None:
        print(f"wrote {path} ({path.stat().st_size:,} bytes, {time.time() - t0:.1f}s)", flush=True)

    if "text" in parts:
        vocab = load_vocab(args.tokenizer_from, p.text.n_vocab)
        # generate each tensor once and reuse it for every requested type
        cache = {t.name: normal(p.name, t.name, t.shape, t.std, t.mean) for t in text_tensors(p.text)} \
            if len([t for t in types if t in QTYPE]) + ("q4_k_m" in types) > 1 else {}
        for typ in types:
            if typ not in QTYPE:
                continue
            t0 = time.time()
            path = args.out / f"{p.name}-text-{typ}.gguf"
            write_text(path, p, typ, vocab, cache)
            done(path, t0)
        if "q4_k_m" in types:
            t0 = time.time()
            dst = args.out / f"{p.name}-text-q4_k_m.gguf"
            if "f16" in types:
                quantize_q4_k_m(args.out / f"{p.name}-text-f16.gguf", dst, args.threads)
            else:
                with tempfile.TemporaryDirectory(dir=args.out) as td:
                    src = Path(td) / "f16.gguf"
                    write_text(src, p, "f16", vocab, cache)
                    quantize_q4_k_m(src, dst, args.threads)
            done(dst, t0)
        cache.clear()

    if "mmproj" in parts:
        mtypes = [t for t in types if t in QTYPE]
        cache = {t.name: normal(p.name, t.name, t.shape, t.std, t.mean)
                 for t in vision_tensors(p.vision, p.text.n_embd)} if len(mtypes) > 1 else {}
        for typ in mtypes:
            t0 = time.time()
            path = args.out / f"{p.name}-mmproj-{typ}{suffix}.gguf"
            write_mmproj(path, p, typ, not args.no_preproc_size, cache)
            done(path, t0)


if __name__ == "__main__":
    main()
