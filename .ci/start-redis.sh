#!/usr/bin/env bash
# Make sure a Redis server answers on 127.0.0.1:6379 (the memory tests need a real one).
# Does nothing when one already answers; otherwise installs redis-server if missing,
# starts it without persistence and waits up to 10 s for PONG.
set -euo pipefail

HOST=127.0.0.1
PORT="${DESKPILOT_REDIS_PORT:-6379}"  # override only to try the script on a spare port
LOG=/tmp/deskpilot-redis.log
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

answers_pong() {
    if command -v redis-cli >/dev/null 2>&1; then
        [ "$(redis-cli -h "$HOST" -p "$PORT" ping 2>/dev/null || true)" = "PONG" ]
        return
    fi
    local python="$REPO_DIR/.venv/bin/python"
    [ -x "$python" ] || python="$(command -v python3 || true)"
    [ -n "$python" ] || return 1
    "$python" - "$HOST" "$PORT" >/dev/null 2>&1 <<'PY'
import sys
import redis
sys.exit(0 if redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), socket_timeout=1).ping() else 1)
PY
}

if answers_pong; then
    echo "Redis already answers on $HOST:$PORT."
    exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server not found; installing it with apt-get..."
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y redis-server
fi

echo "Starting redis-server on $HOST:$PORT (log: $LOG)..."
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$PORT" \
    --save "" --appendonly no --dir /tmp --logfile "$LOG"

for _ in $(seq 1 20); do
    if answers_pong; then
        echo "Redis is up on $HOST:$PORT."
        exit 0
    fi
    sleep 0.5
done

echo "ERROR: redis-server was started but does not answer PING on $HOST:$PORT after 10 s." >&2
echo "       See $LOG for the reason (port already in use? bind refused?)." >&2
exit 1
