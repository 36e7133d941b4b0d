# Sourced by the scripts that need Python packages: sets PYTHON to an interpreter that has them
# (numpy, gguf==0.19.0 and, for the server tests, Tests/Server/requirements.txt when asked).
# The system python3 is used when it already has them; otherwise a virtual environment in .venv
# (ignored by git) is made and filled, because Debian 12 and Ubuntu 24.04 refuse `pip install`
# into their system Python (PEP 668, "externally managed").
#
#   . models/python-env.sh && use_python_env [-r requirements.txt]
python_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

use_python_env() {
    local python_env_wanted=("numpy>=2,<3" "gguf==0.19.0" "$@")
    local python_env_modules="import numpy, gguf"
    local r
    for r in "$@"; do
        case "$r" in -r*) python_env_modules="$python_env_modules, pytest, openai, requests, PIL" ;; esac
    done

    if [ -x "$python_env_root/.venv/bin/python3" ] && "$python_env_root/.venv/bin/python3" -c "$python_env_modules" 2>/dev/null; then
        PYTHON="$python_env_root/.venv/bin/python3"
    elif python3 -c "$python_env_modules" 2>/dev/null; then
        PYTHON=python3
    elif python3 -m pip install --quiet --disable-pip-version-check "${python_env_wanted[@]}" 2>/dev/null; then
        PYTHON=python3
    else
        echo "system python3 cannot take packages (externally managed?): using a virtual environment in .venv" >&2
        if [ ! -x "$python_env_root/.venv/bin/python3" ]; then
            # Debian splits ensurepip into python3-venv; without it, a venv without pip is filled by
            # the system pip (pip >= 22.3 installs into another interpreter with --python).
            python3 -m venv "$python_env_root/.venv" 2>/dev/null || {
                rm -rf "$python_env_root/.venv"
                python3 -m venv --without-pip "$python_env_root/.venv"
            }
        fi
        if [ -x "$python_env_root/.venv/bin/pip" ]; then
            "$python_env_root/.venv/bin/pip" install --quiet --disable-pip-version-check "${python_env_wanted[@]}"
        else
            python3 -m pip --python "$python_env_root/.venv/bin/python3" install --quiet --disable-pip-version-check "${python_env_wanted[@]}"
        fi
        PYTHON="$python_env_root/.venv/bin/python3"
    fi
    export PYTHON
}
