#!/usr/bin/env bash
# Deskpilot's one entry point for a fresh machine.
#   ./dev.sh app    install (first run) and start the Streamlit app
#   ./dev.sh test   install everything tests need (Redis, PostgreSQL, Chromium) and run the whole suite
# Extra arguments after `test` go to pytest, e.g. ./dev.sh test -k memory
set -euo pipefail
cd "$(dirname "$0")"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False

need_python() {
  for py in python3.11 python3.12 python3.13 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$py"; return
    fi
  done
  echo "Deskpilot needs Python 3.11 or newer." >&2; exit 1
}

install() {  # $1 = extras ("" or "[dev]"); reinstalls only when pyproject.toml changed
  local stamp=".venv/.installed$1"
  [ -x .venv/bin/python ] || "$(need_python)" -m venv .venv
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing Python packages into .venv (first run takes a few minutes)..."
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".$1"
    touch "$stamp"
  fi
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "Need root (or sudo) to run: $*" >&2; return 1; fi; }

install_chromium() {
  [ -x /usr/bin/chromium ] && return
  echo "Installing Debian's chromium for the browser tests..."
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x /usr/bin/chromium ] || { echo "chromium could not be installed; browser tests cannot run." >&2; exit 1; }
}

case "${1:-}" in
  app)
    shift; install ""
    exec .venv/bin/streamlit run app.py "$@" ;;
  test)
    shift; install "[dev]"
    install_chromium
    bash .ci/start-redis.sh
    bash .ci/start-postgres.sh
    echo "Lint (ruff) and types (mypy)..."
    .venv/bin/ruff check --quiet . && .venv/bin/mypy
    exec .venv/bin/python -m pytest "$@" ;;
  *)
    echo "usage: ./dev.sh app | ./dev.sh test [pytest args]" >&2; exit 64 ;;
esac
