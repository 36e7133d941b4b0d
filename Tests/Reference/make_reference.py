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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated case groups: tokenizer, smollm2, synthetic-text")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))

    def want(group: str) -> bool:
        return not only or group in only

    smollm2 = MODELS / "SmolLM2-135M-Instruct.Q4_1.gguf"
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


if __name__ == "__main__":
    main()
