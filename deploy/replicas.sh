#!/usr/bin/env bash
# Serve TransformerScope from N `streamlit run` replicas on consecutive loopback ports, behind nginx.
#
#   deploy/replicas.sh [N]          N replicas (default 2) on BASE_PORT, BASE_PORT+1, …; nginx on PORT
#
# Environment (all optional):
#   PORT=8080          nginx listens here (LISTEN=0.0.0.0 to serve the network; default 127.0.0.1)
#   BASE_PORT=8501     the first replica's port
#   RUN_DIR=deploy/run logs, the rendered nginx configuration, pid files, the generated cookie secret
#   TRANSFORMERSCOPE_COOKIE_SECRET   the secret every replica shares; without it one is generated
#                      once into $RUN_DIR/cookie-secret (mode 600) and reused
#   NGINX=nginx        the nginx binary;  STREAMLIT=.venv/bin/streamlit
#
# Runs in the foreground; stop it with Ctrl+C or `kill -TERM <pid>`: the replicas and nginx stop with it.
# The nginx site is deploy/nginx/transformerscope.conf, rendered with these ports.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
N="${1:-${N:-2}}"
PORT="${PORT:-8080}"
LISTEN="${LISTEN:-127.0.0.1}"
BASE_PORT="${BASE_PORT:-8501}"
RUN_DIR="$(mkdir -p "${RUN_DIR:-$REPO/deploy/run}" && cd "${RUN_DIR:-$REPO/deploy/run}" && pwd)"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
STREAMLIT="${STREAMLIT:-$REPO/.venv/bin/streamlit}"

[[ "$N" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive number, not '$N'" >&2; exit 2; }
[ -x "$NGINX" ] || { echo "nginx not found ($NGINX): apt-get install nginx" >&2; exit 2; }
[ -x "$STREAMLIT" ] || { echo "streamlit not found ($STREAMLIT): run 'make run' once first" >&2; exit 2; }

# One secret for every replica: a cookie signed by one replica is valid on the others.
if [ -z "${TRANSFORMERSCOPE_COOKIE_SECRET:-}" ]; then
    SECRET_FILE="$RUN_DIR/cookie-secret"
    if [ ! -s "$SECRET_FILE" ]; then
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$SECRET_FILE")
    fi
    TRANSFORMERSCOPE_COOKIE_SECRET="$(cat "$SECRET_FILE")"
fi

declare -A PORT_OF  # a running replica's process id -> its port
NGINX_PID=""
stop() {
    trap - INT TERM EXIT
    for pid in "${!PORT_OF[@]}" $NGINX_PID; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# The site file with this run's replicas, listen address and log path.
SERVERS=""
for ((i = 0; i < N; i++)); do SERVERS+="    server 127.0.0.1:$((BASE_PORT + i));\n"; done
awk -v servers="$SERVERS" -v listen="    listen $LISTEN:$PORT;" -v logpath="$RUN_DIR/access.log" '
    /# replicas$/ { if (!done) { printf "%s", servers; done = 1 } next }
    /# listen$/ { print listen; next }
    /access_log / { sub(/\/var\/log\/nginx\/transformerscope\.access\.log/, logpath) }
    { print }
' "$HERE/nginx/transformerscope.conf" > "$RUN_DIR/transformerscope.conf"
# Started as root, nginx's workers would run as "nobody", which may not reach a private RUN_DIR (a home or a
# 0700 temporary folder): a large response it buffers to RUN_DIR/tmp (the app's Plotly bundle) then fails.
# The workers run as whoever starts this script; started as anyone else, nginx cannot switch user anyway.
WORKER_USER=""
[ "$(id -u)" = 0 ] && WORKER_USER="user $(id -un) $(id -gn);"
cat > "$RUN_DIR/nginx.conf" <<CONF
$WORKER_USER
worker_processes 1;
pid $RUN_DIR/nginx.pid;
error_log $RUN_DIR/nginx-error.log warn;
events { worker_connections 1024; }
http {
    client_body_temp_path $RUN_DIR/tmp/body;
    proxy_temp_path $RUN_DIR/tmp/proxy;
    fastcgi_temp_path $RUN_DIR/tmp/fastcgi;
    uwsgi_temp_path $RUN_DIR/tmp/uwsgi;
    scgi_temp_path $RUN_DIR/tmp/scgi;
    include $RUN_DIR/transformerscope.conf;
}
CONF
mkdir -p "$RUN_DIR/tmp"
"$NGINX" -t -q -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf"

cd "$REPO"
start_replica() {  # $1: its port; its process id goes to RUN_DIR/replica-PORT.pid
    STREAMLIT_SERVER_COOKIE_SECRET="$TRANSFORMERSCOPE_COOKIE_SECRET" "$STREAMLIT" run app.py \
        --server.port "$1" --server.address 127.0.0.1 --server.headless true \
        --server.fileWatcherType none --browser.gatherUsageStats false \
        >> "$RUN_DIR/replica-$1.log" 2>&1 &
    PORT_OF[$!]=$1
    echo $! > "$RUN_DIR/replica-$1.pid"
}
for ((i = 0; i < N; i++)); do start_replica $((BASE_PORT + i)); done
"$NGINX" -p "$RUN_DIR" -c "$RUN_DIR/nginx.conf" -g "daemon off;" &
NGINX_PID=$!
echo "TransformerScope: $N replicas on ports $BASE_PORT–$((BASE_PORT + N - 1)), nginx on http://$LISTEN:$PORT (logs in $RUN_DIR)"
# Until a signal or nginx's end. A replica that ends is started again: meanwhile nginx sends its students to
# the others (their browsers reconnect, and the URL brings back their view).
while true; do
    ended=""
    wait -n -p ended || true
    if [ "$ended" = "$NGINX_PID" ]; then
        echo "nginx ended: stopping the replicas" >&2
        exit 1
    elif [ -n "$ended" ] && [ -n "${PORT_OF[$ended]:-}" ]; then
        port=${PORT_OF[$ended]}
        unset "PORT_OF[$ended]"
        echo "the replica on port $port ended: starting it again" >&2
        sleep 2  # a replica that cannot start (its port taken) does not spin
        start_replica "$port"
    fi
done
