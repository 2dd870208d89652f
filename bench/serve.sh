#!/usr/bin/env bash
# Benchmark: `dualstack serve` (HTTP whoami) against nginx returning "$remote_addr\n",
# on 127.0.0.1 and [::1], with keep-alive and with `Connection: close`; then memory per
# idle connection with 10,000 idle connections. Loopback only; every loop is bounded.
#
#   bash bench/serve.sh            # DURATION=5 ROUNDS=3 CONNS=64 IDLE=10000 to change
#
# Fairness: nginx gets as many workers as our runtime has threads (nproc), access_log
# off and keepalive_requests raised to 1e6 (ours has no per-connection request cap);
# ours runs with RUST_LOG=warn (no per-connection log line). wrk alternates between the
# two servers, ROUNDS times per row; the median is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
IDLE=${IDLE:-10000}
THREADS=$(nproc)

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
if ((${#need[@]})); then
    if [ "$(id -u)" != 0 ]; then
        echo "need ${need[*]} (apt-get install ${need[*]}); run as root to install" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release --quiet
BIN=target/release/dualstack

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    sleep 0.3
    rm -rf "$WORK"
}
trap cleanup EXIT

# Idle connections need fds on both sides (client and server are separate processes).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && (($(ulimit -n) < IDLE + 500)); then
    echo "note: ulimit -n is $(ulimit -n); lowering IDLE to fit" >&2
    IDLE=$(($(ulimit -n) - 500))
fi

start_nginx() {
    local port=$1
    cat >"$WORK/nginx.conf" <<EOF
worker_processes $THREADS;
worker_rlimit_nofile $((IDLE + 1000));
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections $((IDLE + 1000)); }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK;
    uwsgi_temp_path $WORK; scgi_temp_path $WORK;
    server {
        listen 127.0.0.1:$port;
        listen [::1]:$port;
        default_type text/plain;
        location / { return 200 "\$remote_addr\n"; }
    }
}
EOF
    "$NGINX" -c "$WORK/nginx.conf" -e "$WORK/nginx.err" -g 'daemon on; master_process on;'
    for _ in $(seq 50); do [ -s "$WORK/nginx.pid" ] && break; sleep 0.1; done
}

start_ours() {
    local port=$1
    shift
    RUST_LOG=warn "$BIN" serve --line off --udp off \
        --http "127.0.0.1:$port" --http "[::1]:$port" \
        --max-connections $((IDLE * 2)) "$@" 2>"$WORK/ours.err" &
    OURS=$!
    PIDS+=("$OURS")
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    echo "dualstack serve did not start:" >&2
    cat "$WORK/ours.err" >&2
    exit 1
}

# wrk → requests/s (a number). Non-2xx or socket errors are reported on stderr.
rps() {
    local url=$1
    shift
    local out
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@" "$url" 2>&1)
    if grep -q -E "Non-2xx|Socket errors" <<<"$out"; then
        echo "warning: $url: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ')" >&2
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

NPORT=$(free_port)
OPORT=$(free_port)
start_nginx "$NPORT"
start_ours "$OPORT"
for url in "http://127.0.0.1:$NPORT/" "http://[::1]:$NPORT/" "http://127.0.0.1:$OPORT/" "http://[::1]:$OPORT/"; do
    echo "check $url -> $(curl -s "$url")"
done

echo
echo "HTTP whoami, wrk -t1 -c$CONNS -d${DURATION}s, median of $ROUNDS alternating rounds, $THREADS threads/workers each"
printf '%-12s %-11s %12s %12s %7s\n' family mode "nginx req/s" "ours req/s" ratio
for host in 127.0.0.1 "[::1]"; do
    for mode in keep-alive close; do
        hdr=()
        [ "$mode" = close ] && hdr=(-H "Connection: close")
        n=() o=()
        for _ in $(seq "$ROUNDS"); do
            n+=("$(rps "http://$host:$NPORT/" "${hdr[@]}")")
            o+=("$(rps "http://$host:$OPORT/" "${hdr[@]}")")
        done
        nm=$(printf '%s\n' "${n[@]}" | median)
        om=$(printf '%s\n' "${o[@]}" | median)
        printf '%-12s %-11s %12.0f %12.0f %6.2fx\n' "$host" "$mode" "$nm" "$om" \
            "$(awk -v a="$om" -v b="$nm" 'BEGIN {print a / b}')"
    done
done

# --- memory per idle connection -------------------------------------------------------
rss_kib() { # total VmRSS of the given pids
    local t=0
    for p in "$@"; do
        t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status")))
    done
    echo "$t"
}
nginx_pids() {
    local master
    master=$(cat "$WORK/nginx.pid")
    echo "$master" $(pgrep -P "$master")
}

# Hold IDLE connections open without sending a byte; prints "ready N" then waits.
cat >"$WORK/idle.py" <<'EOF'
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
deadline = time.time() + 120
for _ in range(n):
    if time.time() > deadline:
        break
    s = socket.create_connection((host, port), timeout=10)
    socks.append(s)
print("ready", len(socks), flush=True)
sys.stdin.read()
EOF

idle_delta() { # name port pids... → prints "KiB before, after, per conn"
    local port=$1
    shift
    local before after
    before=$(rss_kib "$@")
    coproc IDLEC { python3 "$WORK/idle.py" 127.0.0.1 "$port" "$IDLE"; }
    local line
    read -r -t 150 line <&"${IDLEC[0]}"
    sleep 2 # let the server accept and register everything
    after=$(rss_kib "$@")
    echo "$before $after ${line#ready }"
    kill "$IDLEC_PID" 2>/dev/null || true
    wait "$IDLEC_PID" 2>/dev/null || true
}

# Our idle connections are closed by the header timeout (10 s); give this test room.
kill "$OURS"
wait "$OURS" 2>/dev/null || true
start_ours "$OPORT" --header-timeout 120s
sleep 0.5

echo
echo "memory with $IDLE idle connections (connected, nothing sent), RSS delta"
printf '%-8s %12s %12s %8s %14s\n' server "before KiB" "after KiB" conns "bytes/conn"
read -r b a c < <(idle_delta "$NPORT" $(nginx_pids))
printf '%-8s %12d %12d %8d %14.0f\n' nginx "$b" "$a" "$c" "$(awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {print (a - b) * 1024 / c}')"
read -r b a c < <(idle_delta "$OPORT" "$OURS")
printf '%-8s %12d %12d %8d %14.0f\n' ours "$b" "$a" "$c" "$(awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {print (a - b) * 1024 / c}')"
