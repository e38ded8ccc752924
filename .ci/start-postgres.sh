#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 with trust auth (the store tests need a real
# one; they create and drop their own databases). Does nothing when one already answers;
# otherwise installs Debian's postgresql if missing, creates a cluster that trusts local
# TCP connections and starts it, then waits up to 20 s. Fails loudly when it cannot.
set -euo pipefail

HOST=127.0.0.1
PORT="${DESKPILOT_POSTGRES_PORT:-5432}"  # override only to try the script on a spare port
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$REPO_DIR/.venv/bin/python"
[ -x "$PY" ] || PY="$(command -v python3)"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "ERROR: need root (or sudo) to run: $*" >&2; return 1; fi; }

answers() {  # a trusted connection as the OS user or as postgres (psql, else psycopg)
    if command -v psql >/dev/null 2>&1; then
        for user in "$(id -un)" postgres; do
            PGCONNECT_TIMEOUT=2 psql -h "$HOST" -p "$PORT" -U "$user" -d postgres -w -tAc \
                'select 1' >/dev/null 2>&1 && return 0
        done
        return 1
    fi
    "$PY" - "$HOST" "$PORT" >/dev/null 2>&1 <<'PY'
import getpass, sys
import psycopg
for user in dict.fromkeys([getpass.getuser(), "postgres"]):
    try:
        psycopg.connect(host=sys.argv[1], port=int(sys.argv[2]), user=user, dbname="postgres",
                        connect_timeout=2).close()
        sys.exit(0)
    except psycopg.Error:
        pass
sys.exit(1)
PY
}

if answers; then
    echo "PostgreSQL already answers on $HOST:$PORT."
    exit 0
fi

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    echo "PostgreSQL not found; installing it with apt-get..."
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

VERSION="$(ls /usr/lib/postgresql | sort -V | tail -1)"
CLUSTER=deskpilot
if command -v pg_lsclusters >/dev/null 2>&1; then
    # Debian's package starts cluster "main" on 5432 with password auth: trust 127.0.0.1 there.
    EXISTING="$(pg_lsclusters -h | awk -v p="$PORT" '$3 == p {print $1" "$2; exit}')"
    if [ -n "$EXISTING" ]; then
        set -- $EXISTING
        HBA="/etc/postgresql/$1/$2/pg_hba.conf"
        if ! as_root grep -q '^host all all 127.0.0.1/32 trust' "$HBA"; then
            echo "Trusting local TCP connections in $HBA (cluster $1/$2 on port $PORT)..."
            as_root sed -i '1i host all all 127.0.0.1/32 trust' "$HBA"
        fi
        as_root pg_ctlcluster "$1" "$2" start 2>/dev/null || as_root pg_ctlcluster "$1" "$2" reload
    else
        echo "Creating cluster $VERSION/$CLUSTER on port $PORT (trust auth for local TCP)..."
        as_root pg_createcluster "$VERSION" "$CLUSTER" -p "$PORT" -- --auth-host=trust \
            --auth-local=trust >/dev/null
        as_root pg_ctlcluster "$VERSION" "$CLUSTER" start || true
    fi
else
    DATA=/tmp/deskpilot-postgres
    BIN="/usr/lib/postgresql/$VERSION/bin"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        "$BIN/initdb" -D "$DATA" --auth=trust -U postgres >/dev/null
    fi
    "$BIN/pg_ctl" -D "$DATA" -o "-p $PORT -k /tmp -c listen_addresses=$HOST" \
        -l /tmp/deskpilot-postgres.log start
fi

for _ in $(seq 1 40); do
    if answers; then
        echo "PostgreSQL is up on $HOST:$PORT."
        exit 0
    fi
    sleep 0.5
done

echo "ERROR: PostgreSQL was started but does not accept trusted connections on $HOST:$PORT." >&2
echo "       Check the cluster's pg_hba.conf (trust for host 127.0.0.1) and its log." >&2
exit 1
