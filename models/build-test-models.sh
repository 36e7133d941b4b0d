#!/usr/bin/env bash
# Builds the synthetic models the tests compare against llama.cpp fixtures, and checks each is
# byte-identical to the file the fixtures were made from (Tests/Fixtures/models/synthetic.sha256).
# Needs python3 with pip (numpy and gguf==0.19.0 are installed if missing, into .venv where the
# system Python refuses packages: models/python-env.sh) and fetches
# models/SmolLM2-135M-Instruct.Q4_1.gguf if missing (its tokenizer is copied). About 30 s and 1.4 GB of disk.
#
#   models/build-test-models.sh            build, then verify
#   models/build-test-models.sh --record   build, then record the hashes (after regenerating fixtures)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
sums=Tests/Fixtures/models/synthetic.sha256

. models/python-env.sh
use_python_env
[ -f models/SmolLM2-135M-Instruct.Q4_1.gguf ] || ./models/fetch-smollm2.sh
"$PYTHON" models/make_synthetic.py --preset tiny --types f16,q8_0
"$PYTHON" models/make_synthetic.py --preset tiny --types f16,q8_0 --parts mmproj --no-preproc-size
"$PYTHON" models/make_synthetic.py --preset smolvlm-256m --types f16,q8_0
"$PYTHON" models/make_synthetic.py --preset smolvlm-256m --types f16,q8_0 --parts mmproj --no-preproc-size
"$PYTHON" models/make_synthetic.py --preset kquant --parts text --types f16,bf16,q8_0,q4_0,q4_1,q5_0,q5_1,q4_k,q5_k,q6_k

files="tiny-text-f16 tiny-text-q8_0 tiny-mmproj-f16 tiny-mmproj-q8_0 tiny-mmproj-f16-nopreproc tiny-mmproj-q8_0-nopreproc
       smolvlm-256m-text-q8_0 smolvlm-256m-mmproj-f16 smolvlm-256m-mmproj-q8_0 smolvlm-256m-mmproj-f16-nopreproc smolvlm-256m-mmproj-q8_0-nopreproc
       kquant-text-f16 kquant-text-bf16 kquant-text-q8_0 kquant-text-q4_0 kquant-text-q4_1 kquant-text-q5_0 kquant-text-q5_1
       kquant-text-q4_k kquant-text-q5_k kquant-text-q6_k"
if [ "${1:-}" = "--record" ]; then
    (cd models && for f in $files; do sha256sum "$f.gguf"; done) > "$sums"
    echo "recorded $(wc -l < "$sums") hashes in $sums"
else
    (cd models && sha256sum --quiet -c "../$sums") || {
        echo "error: a rebuilt model differs from the one the fixtures were made from (numpy or gguf version?)" >&2
        exit 1
    }
    echo "synthetic models verified against $sums"
fi
