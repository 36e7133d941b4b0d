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

    local venv="$python_env_root/.venv"
    if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c "$python_env_modules" 2>/dev/null; then
        PYTHON="$venv/bin/python3"
    elif [ ! -x "$venv/bin/python3" ] && python3 -c "$python_env_modules" 2>/dev/null; then
        PYTHON=python3
    elif [ ! -x "$venv/bin/python3" ] && python3 -m pip install --quiet --disable-pip-version-check "${python_env_wanted[@]}" >/dev/null 2>&1; then
        PYTHON=python3
    else
        if [ ! -x "$venv/bin/python3" ]; then
            echo "the system python3 takes no packages (externally managed): installing them into .venv" >&2
            # Debian splits ensurepip into python3-venv; without it (its complaint is printed on
            # stdout, hence the redirection), a venv without pip is filled by the system pip
            # (pip >= 22.3 installs into another interpreter with --python).
            python3 -m venv "$venv" >/dev/null 2>&1 || {
                rm -rf "$venv"
                python3 -m venv --without-pip "$venv"
            }
        fi
        if [ -x "$venv/bin/pip" ]; then
            "$venv/bin/pip" install --quiet --disable-pip-version-check "${python_env_wanted[@]}"
        else
            python3 -m pip --python "$venv/bin/python3" install --quiet --disable-pip-version-check "${python_env_wanted[@]}"
        fi
        PYTHON="$venv/bin/python3"
    fi
    export PYTHON
}
