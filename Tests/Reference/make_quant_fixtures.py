#!/usr/bin/env python3
"""Writes the GGUF-reader and dequantization fixtures that Tests/GGUFTests compares against.

The reference is the PyPI `gguf` package (`gguf.quants.dequantize`), which mirrors ggml's
dequantize_row_* functions. Outputs (all small, committed):

  Tests/GGUFTests/Fixtures/quant/quant-fixtures.gguf   one tensor per type, written by gguf.GGUFWriter,
                                                       plus metadata of every GGUF value type
  Tests/GGUFTests/Fixtures/quant/<tensor>.f32          gguf.quants.dequantize of that tensor, little-endian f32
  Tests/GGUFTests/Fixtures/quant/manifest.json         tensor list and expected metadata values
  Tests/GGUFTests/Fixtures/smollm2-dequant.json        checksums of two tensors of the real SmolLM2-135M file,
                                                       if models/SmolLM2-135M-Instruct.Q4_1.gguf is present

Run:  pip install gguf==0.19.0 numpy && python3 Tests/Reference/make_quant_fixtures.py
Deterministic: a fixed seed; running it twice gives identical files.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "GGUFTests" / "Fixtures"
SEED = 20261123

# Rows are deliberately an odd number of blocks long where the type allows it.
SHAPES = {  # type: (elements per row, rows)
    T.F32: (96, 3),
    T.F16: (96, 3),
    T.BF16: (96, 3),
    T.Q8_0: (96, 3),   # 3 blocks per row
    T.Q4_0: (160, 3),  # 5 blocks
    T.Q4_1: (224, 3),  # 7 blocks
    T.Q4_K: (768, 2),  # 3 super-blocks
    T.Q5_K: (768, 2),
    T.Q6_K: (768, 2),
    # Last, so the random stream of the entries above (and their fixtures) is unchanged.
    T.Q5_0: (288, 3),  # 9 blocks
    T.Q5_1: (352, 3),  # 11 blocks
}

# Byte offsets of the f16 scale fields inside one block, which must be finite.
F16_FIELDS = {
    T.Q8_0: [0],
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
}


def random_blocks(rng: np.random.Generator, qtype: T, n_elems: int, rows: int) -> np.ndarray:
    """Random bytes for every block, with sane finite f16 scales (any bit pattern is a valid quant)."""
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = rows * n_elems // block_elems
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for off in F16_FIELDS[qtype]:
        scale = (rng.uniform(0.001, 0.05, size=n_blocks) * rng.choice([-1, 1], size=n_blocks)).astype(np.float16)
        if qtype in (T.Q4_1, T.Q5_1, T.Q4_K, T.Q5_K) and off == 2:
            scale = np.abs(scale)  # the min's scale is non-negative in real files; either sign must work
        raw[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(rows, -1)


def quant_fixtures() -> None:
    rng = np.random.default_rng(SEED)
    out = OUT / "quant"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "quant-fixtures.gguf"

    w = gguf.GGUFWriter(str(path), arch="fixture")
    metadata = {
        "fixture.u8": ("uint8", 200), "fixture.i8": ("int8", -100),
        "fixture.u16": ("uint16", 60000), "fixture.i16": ("int16", -30000),
        "fixture.u32": ("uint32", 4000000000), "fixture.i32": ("int32", -2000000000),
        "fixture.u64": ("uint64", 18000000000000000000), "fixture.i64": ("int64", -9000000000000000000),
        "fixture.f32": ("float32", 0.15625), "fixture.f64": ("float64", 2.718281828459045),
        "fixture.bool": ("bool", True), "fixture.string": ("string", "héllo, 世界 🙂"),
    }
    for key, (kind, value) in metadata.items():
        getattr(w, f"add_{kind}")(key, value)
    arrays = {
        "fixture.strings": ["<|im_start|>", "", "Ġthe", "日本"],
        "fixture.ints": [1, -2, 3],
        "fixture.floats": [0.5, -1.25],
        "fixture.nested": [[1, 2], [3]],
    }
    for key, value in arrays.items():
        w.add_array(key, value)

    tensors = []
    for qtype, (n, rows) in SHAPES.items():
        name = f"fixture.{qtype.name.lower()}"
        if qtype == T.F32:
            data = rng.standard_normal((rows, n)).astype(np.float32)
            w.add_tensor(name, data)
            expected = data
        elif qtype == T.F16:
            data = rng.standard_normal((rows, n)).astype(np.float16)
            w.add_tensor(name, data)
            expected = data.astype(np.float32)
        elif qtype == T.BF16:
            values = rng.standard_normal((rows, n)).astype(np.float32)
            raw = gguf.quants.quantize(values, T.BF16)
            w.add_tensor(name, raw, raw_dtype=T.BF16)
            expected = gguf.quants.dequantize(raw, T.BF16)
        else:
            raw = random_blocks(rng, qtype, n, rows)
            w.add_tensor(name, raw, raw_dtype=qtype)
            expected = gguf.quants.dequantize(raw, qtype)
        expected = np.ascontiguousarray(expected, dtype="<f4").reshape(rows, n)
        (out / f"{name}.f32").write_bytes(expected.tobytes())
        tensors.append({"name": name, "type": qtype.name, "shape": [n, rows], "expected": f"{name}.f32"})

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    manifest = {
        "generator": "Tests/Reference/make_quant_fixtures.py",
        "reference": f"gguf {gguf_version()} gguf.quants.dequantize",
        "seed": SEED,
        "file": path.name,
        "metadata": {k: v for k, (_, v) in metadata.items()} | arrays,
        "tensors": tensors,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path.relative_to(ROOT)} and {len(tensors)} expected arrays")


def checksum(values: np.ndarray) -> dict:
    """Order-sensitive checksum of f32 bits, cheap in numpy and in Swift: s1 = Σ u, s2 = Σ (i+1)·u (mod 2^64)."""
    u = np.ascontiguousarray(values, dtype="<f4").reshape(-1).view("<u4").astype(np.uint64)
    idx = np.arange(1, u.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        s1 = int(u.sum(dtype=np.uint64))
        s2 = int((u * idx).sum(dtype=np.uint64))
    return {"count": int(u.size), "sum": str(s1), "weighted_sum": str(s2)}


def smollm2_fixtures() -> None:
    model = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not model.exists():
        print(f"skipped SmolLM2 checksums: {model.relative_to(ROOT)} missing (run models/fetch-smollm2.sh)")
        return
    reader = gguf.GGUFReader(str(model))
    entries = []
    for t in reader.tensors:
        if t.name not in ("token_embd.weight", "blk.0.ffn_down.weight"):
            continue
        values = gguf.quants.dequantize(t.data, t.tensor_type)
        entry = {"name": t.name, "type": t.tensor_type.name, "shape": [int(x) for x in t.shape]}
        entry |= checksum(values)
        entry["first"] = [float(x) for x in values.reshape(-1)[:8]]
        entries.append(entry)
    doc = {"generator": "Tests/Reference/make_quant_fixtures.py", "reference": f"gguf {gguf_version()}",
           "file": model.name, "tensors": entries}
    (OUT / "smollm2-dequant.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote smollm2-dequant.json ({len(entries)} tensors)")


def gguf_version() -> str:
    from importlib.metadata import version
    return version("gguf")


if __name__ == "__main__":
    quant_fixtures()
    smollm2_fixtures()
    sys.exit(0)
