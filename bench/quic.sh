#!/usr/bin/env bash
# Time to connected on loopback against aioquic (tests/support/quic_server.py), one run,
# side by side:
#   - dualstack connect --alpn h3: QUIC raced first (wins with its handshake done: TLS 1.3
#     included), TCP one attempt delay later;
#   - dualstack connect: TCP only (a TCP handshake, no TLS);
#   - curl: --http3 when the installed curl has HTTP/3, else its TCP connect time
#     (time_connect) and a note that it has no HTTP/3;
#   - aioquic's own client: its QUIC handshake (in-process, Python).
# Every number is measured inside the process from the start of the connect (no process
# start-up), ms, median and min of N fresh processes, over 127.0.0.1 and ::1.
# Prints `uptime` first: read the numbers with the load beside them.
#
#   bash bench/quic.sh          # N=20, debug build (PROFILE=release for release)
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in python3 openssl curl; do
    command -v "$tool" >/dev/null || { echo "bench/quic.sh: needs $tool; skipping." >&2; exit 0; }
done
python3 -c 'import aioquic' 2>/dev/null ||
    { echo "bench/quic.sh: needs python3 aioquic (bash .ci/install); skipping." >&2; exit 0; }

N=${N:-20}
PROFILE=${PROFILE:-debug}
if [ "$PROFILE" = release ]; then
    cargo build -q --release --bin dualstack
else
    cargo build -q --bin dualstack
fi
BIN=$PWD/target/$PROFILE/dualstack
WORK=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A self-signed leaf certificate (CA:FALSE: webpki refuses a CA as the end entity).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null

mkfifo "$WORK/ready"
python3 crates/dualstack/tests/support/quic_server.py --cert "$WORK/cert.pem" \
    --key "$WORK/key.pem" --host :: --port 0 >"$WORK/ready" &
pids+=($!)
read -r _ PORT <"$WORK/ready"

# TCP on the same port, both families: accepts and closes (curl's time_connect, and the
# TCP attempt of the race can connect).
python3 - "$PORT" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
s.listen(128)
while True:
    c, _ = s.accept()
    c.close()
PY
pids+=($!)
sleep 0.3

stats() { # "median min" of numbers on stdin
    sort -n | awk '{v[NR]=$1} END {if (NR==0) {print "n/a n/a"; exit} printf "%.3f %.3f\n", v[int((NR+1)/2)], v[1]}'
}

json_ms() { python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print(r["elapsed_ms"], r["protocol"], r.get("alpn",""))'; }

aioquic_client() { # host port
    python3 - "$1" "$2" "$WORK/cert.pem" <<'PY'
import asyncio, sys, time
from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration
async def main():
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"])
    cfg.load_verify_locations(sys.argv[3])
    t = time.perf_counter()
    async with connect(sys.argv[1], int(sys.argv[2]), configuration=cfg, wait_connected=True):
        print(f"{(time.perf_counter() - t) * 1e3:.3f}")
asyncio.run(main())
PY
}

HTTP3=no
curl --version | grep -qw HTTP3 && HTTP3=yes

echo "load: $(uptime)"
echo "peer: aioquic $(python3 -c 'import aioquic; print(aioquic.__version__)') on [::]:$PORT (UDP), TCP on the same port; $(curl --version | head -1 | cut -d' ' -f1-2) (HTTP/3: $HTTP3); N=$N; $PROFILE build"
printf '%-9s %-34s %12s %10s  %s\n' host client "median ms" "min ms" won
for host in 127.0.0.1 ::1; do
    : >"$WORK/q" && : >"$WORK/t" && : >"$WORK/c" && : >"$WORK/a" && : >"$WORK/won"
    for _ in $(seq "$N"); do
        "$BIN" connect -z --json --alpn h3 --cacert "$WORK/cert.pem" "$host" "$PORT" 2>/dev/null |
            json_ms >>"$WORK/won"
        "$BIN" connect -z --json "$host" "$PORT" 2>/dev/null | json_ms | cut -d' ' -f1 >>"$WORK/t"
        if [ "$HTTP3" = yes ]; then
            curl -s -o /dev/null --http3-only --cacert "$WORK/cert.pem" -w '%{time_appconnect}\n' \
                "https://${host/::1/[::1]}:$PORT/" | awk '{print $1 * 1000}' >>"$WORK/c" || true
        else
            curl -s -o /dev/null -w '%{time_connect}\n' --max-time 2 \
                "http://${host/::1/[::1]}:$PORT/" | awk '{print $1 * 1000}' >>"$WORK/c" || true
        fi
        aioquic_client "$host" "$PORT" >>"$WORK/a" || true
    done
    cut -d' ' -f1 "$WORK/won" >"$WORK/q"
    won=$(cut -d' ' -f2- "$WORK/won" | sort | uniq -c | awk '{printf "%s%s %s×%s", sep, $2, $3, $1; sep=", "}')
    read -r qm qn < <(stats <"$WORK/q")
    read -r tm tn < <(stats <"$WORK/t")
    read -r cm cn < <(stats <"$WORK/c")
    read -r am an < <(stats <"$WORK/a")
    printf '%-9s %-34s %12s %10s  %s\n' "$host" "dualstack --alpn h3 (QUIC first)" "$qm" "$qn" "$won"
    printf '%-9s %-34s %12s %10s  %s\n' "$host" "dualstack (TCP only)" "$tm" "$tn" "tcp"
    if [ "$HTTP3" = yes ]; then
        printf '%-9s %-34s %12s %10s  %s\n' "$host" "curl --http3-only (appconnect)" "$cm" "$cn" "quic"
    else
        printf '%-9s %-34s %12s %10s  %s\n' "$host" "curl, TCP connect (no HTTP/3)" "$cm" "$cn" "tcp"
    fi
    printf '%-9s %-34s %12s %10s  %s\n' "$host" "aioquic client (QUIC handshake)" "$am" "$an" "quic"
done
echo "load after: $(uptime)"
