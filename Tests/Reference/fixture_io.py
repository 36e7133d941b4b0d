"""One fixture format for every reference case: a directory with manifest.json plus raw
little-endian arrays. The manifest's "arrays" maps a name to {file, dtype, shape}; dtype is
one of f32, f16, i32, u8. Swift reads it with Tests/Support (ReferenceFixture)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DTYPES = {"f32": "<f4", "f16": "<f2", "i32": "<i4", "u8": "u1"}


class FixtureWriter:
    def __init__(self, directory: Path, kind: str):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.iterdir():  # a case is rewritten whole, never merged
            old.unlink()
        self.manifest: dict = {"kind": kind, "arrays": {}}

    def array(self, name: str, values, dtype: str) -> None:
        a = np.ascontiguousarray(np.asarray(values), dtype=DTYPES[dtype])
        path = self.dir / f"{name}.{dtype}"
        path.write_bytes(a.tobytes())
        self.manifest["arrays"][name] = {"file": path.name, "dtype": dtype, "shape": list(a.shape)}

    def set(self, **fields) -> None:
        self.manifest.update(fields)

    def close(self) -> None:
        text = json.dumps(self.manifest, indent=1, ensure_ascii=False, sort_keys=True)
        (self.dir / "manifest.json").write_text(text + "\n")


def logit_record(writer: FixtureWriter, logits: np.ndarray, tokens: list[int], full_steps: list[int],
                 probe_count: int = 1024, top_count: int = 64, seed: int = 1, prefix: str = "") -> None:
    """Stores per-step logits within the repository's size budget.

    A full f16 vector costs ~100 KB a step, so only `full_steps` keep the whole vector. Every
    step keeps: the reference's top `top_count` logits (f32) with ids, the logits at a fixed,
    seeded probe set of `probe_count` vocabulary ids (f32), and statistics of the whole vector
    (mean, std, max, min, top-2 gap) so tolerances can be scaled by the full distribution.
    """
    steps, vocab = logits.shape
    rng = np.random.default_rng(seed)
    probe = np.sort(rng.choice(vocab, size=min(probe_count, vocab), replace=False)).astype(np.int32)
    top = np.argsort(-logits, axis=1, kind="stable")[:, :top_count].astype(np.int32)
    top_logits = np.take_along_axis(logits, top, axis=1)
    ordered = np.sort(logits, axis=1)
    stats = np.stack([logits.mean(axis=1), logits.std(axis=1), ordered[:, -1], ordered[:, 0],
                      ordered[:, -1] - ordered[:, -2]], axis=1)
    p = prefix
    writer.array(p + "tokens", tokens, "i32")
    writer.array(p + "top_ids", top, "i32")
    writer.array(p + "top_logits", top_logits, "f32")
    writer.array(p + "probe_ids", probe, "i32")
    writer.array(p + "probe_logits", logits[:, probe], "f32")
    writer.array(p + "stats", stats, "f32")
    writer.array(p + "full_steps", full_steps, "i32")
    writer.array(p + "full_logits", logits[full_steps].astype(np.float16).reshape(len(full_steps), vocab), "f16")
    writer.set(**{p + "steps": steps}, vocab=vocab, stats_columns=["mean", "std", "max", "min", "top2_gap"])
