# Shared by scripts/run and scripts/test: make .venv and keep it in step with pyproject.toml.
# Usage: source scripts/_env.sh EXTRAS   (EXTRAS is "" for the app, "dev" for the tests)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${AGENT_CONSOLE_VENV:-$ROOT/.venv}"
extras="${1:-}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Agent Console needs Python 3.11 or newer ($("$PYTHON" --version 2>&1) found)" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating the virtual environment in $VENV ..." >&2
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
fi
stamp="$VENV/.agent-console-${extras:-app}.stamp"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing Agent Console and its dependencies ..." >&2
    spec="$ROOT"
    [ -n "$extras" ] && spec="$ROOT[$extras]"
    # The build backend's notices go to a log; on failure the whole log is shown.
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" \
        > "$VENV/install.log" 2>&1; then
        cat "$VENV/install.log" >&2
        echo "Installing failed (the log is in $VENV/install.log)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
# Byte-compile our own modules (pip compiles the dependencies; an editable install leaves ours to
# the first import, which never caches them where PYTHONDONTWRITEBYTECODE is set): the window
# then opens without compiling 200 files first. Only stale files are compiled (~40 ms otherwise).
"$VENV/bin/python" -m compileall -q "$ROOT/console" "$ROOT/services" "$ROOT/widgets" >/dev/null 2>&1 || true
export PATH="$VENV/bin:$PATH"
