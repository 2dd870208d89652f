#!/usr/bin/env bash
# Benchmark: Happy Eyeballs connect times of `dualstack connect -z`, curl and Python
# asyncio (happy_eyeballs_delay=0.25), side by side from one run, per scenario, plus our
# in-process time for repeated connects (`--repeat`, where the outcome cache works).
#
# Needs root: it builds a network namespace (198.51.100.0/24 and 2001:db8::/32 on lo,
# nftables drops for silent black holes) with a fake DNS server inside
# (examples/fake_dns.rs) that /etc/netns/$NS/resolv.conf points at. No traffic leaves
# the namespace. Without root it says so and exits 0.
#
#   bash bench/connect.sh            # release build (built if missing)
#   PROFILE=debug bash bench/connect.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "bench/connect.sh: needs root (network namespace, nftables); skipping." >&2
    exit 0
fi
for tool in ip nft curl python3; do
    command -v "$tool" >/dev/null || { echo "bench/connect.sh: needs $tool; skipping." >&2; exit 0; }
done

PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
    cargo build -q --release --bin dualstack --example fake_dns
else
    cargo build -q --bin dualstack --example fake_dns
fi
BIN=$PWD/target/$PROFILE/dualstack
FAKE_DNS=$PWD/target/$PROFILE/examples/fake_dns
NS=dsbench$$
PORT=8080
REPEAT=${REPEAT:-20}
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "/etc/netns/$NS"
}
trap cleanup EXIT

ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
for a in 2001:db8::10 2001:db8::66 2001:db8::67 2001:db8::68 2001:db8::69; do
    nsx ip addr add "$a/128" dev lo nodad
done
for a in 198.51.100.10 198.51.100.66; do nsx ip addr add "$a/32" dev lo; done
nsx nft add table inet bench
nsx nft add chain inet bench in '{ type filter hook input priority 0; }'
for a in 2001:db8::66 2001:db8::67 2001:db8::68 2001:db8::69; do
    nsx nft add rule inet bench in ip6 daddr "$a" drop
done
nsx nft add rule inet bench in ip daddr 198.51.100.66 drop

mkdir -p "/etc/netns/$NS"
printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n' > "/etc/netns/$NS/resolv.conf"
printf '127.0.0.1 localhost\n' > "/etc/netns/$NS/hosts"

G6=2001:db8::10 G4=198.51.100.10
nsx "$FAKE_DNS" --listen 127.0.0.1:53 \
    --record "healthy.test AAAA $G6" --record "healthy.test A $G4" \
    --record "bh6.test AAAA 2001:db8::66" --record "bh6.test A $G4" \
    --record "dead4x6.test AAAA 2001:db8::66" --record "dead4x6.test AAAA 2001:db8::67" \
    --record "dead4x6.test AAAA 2001:db8::68" --record "dead4x6.test AAAA 2001:db8::69" \
    --record "dead4x6.test A $G4" \
    --record "slow6.test AAAA $G6 2s" --record "slow6.test A $G4" \
    --record "slow6bh.test AAAA 2001:db8::66 2s" --record "slow6bh.test A $G4" \
    --record "slow4.test AAAA $G6" --record "slow4.test A $G4 2s" \
    --record "dead.test AAAA 2001:db8::66" --record "dead.test A 198.51.100.66" \
    >/dev/null &
pids+=($!)

# A tiny listener on both families: accept and close.
nsx python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", '$PORT')); s.listen(1024)
while True:
    c, _ = s.accept(); c.close()
' &
pids+=($!)

for _ in $(seq 50); do
    nsx "$BIN" resolve --timeout 1s healthy.test >/dev/null 2>&1 && \
        nsx python3 -c "import socket; socket.create_connection(('$G4', $PORT), 1).close()" 2>/dev/null && break
    sleep 0.1
done

TIMEOUT=3

ours() { # first connect of a fresh process, ms
    nsx "$BIN" connect -z --json --timeout "${TIMEOUT}s" "$1" "$PORT" 2>/dev/null |
        python3 -c 'import json,sys; print("%.1f" % json.loads(sys.stdin.readline())["elapsed_ms"])' 2>/dev/null ||
        echo "fail"
}
ours_fail_time() { # wall time of a failing run, ms
    local t0 t1
    t0=$(date +%s%N)
    nsx "$BIN" connect -z --timeout "${TIMEOUT}s" "$1" "$PORT" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    echo "fail $(( (t1 - t0) / 1000000 ))"
}
ours_repeat() { # median of connects 2..N in one process, ms
    nsx "$BIN" connect -z --json --repeat "$REPEAT" --timeout "${TIMEOUT}s" "$1" "$PORT" 2>/dev/null |
        python3 -c '
import json, sys, statistics
t = [json.loads(l)["elapsed_ms"] for l in sys.stdin if l.strip()]
print("%.2f" % statistics.median(t[1:]) if len(t) > 1 else "fail")' 2>/dev/null || echo "fail"
}
curl_time() {
    local out
    out=$(nsx curl -s -o /dev/null --max-time "$TIMEOUT" --connect-timeout "$TIMEOUT" \
        -w '%{time_connect} %{exitcode}' "http://$1:$PORT/" 2>/dev/null || true)
    python3 -c '
import sys
t, code = sys.argv[1].split()
t = float(t) * 1000
print("%.1f" % t if t > 0 else "fail")' "$out"
}
py_time() {
    nsx python3 - "$1" "$PORT" "$TIMEOUT" <<'PY'
import asyncio, sys, time
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
async def main():
    t0 = time.perf_counter()
    try:
        r, w = await asyncio.wait_for(
            asyncio.open_connection(host, port, happy_eyeballs_delay=0.25), timeout)
        t = (time.perf_counter() - t0) * 1000
        w.close()
        print("%.1f" % t)
    except Exception:
        print("fail %d" % ((time.perf_counter() - t0) * 1000))
asyncio.run(main())
PY
}
plain_time() { # python: one plain connect to the literal, no DNS, ms
    nsx python3 -c "
import socket, time
t0 = time.perf_counter(); s = socket.create_connection(('$G6', $PORT), 3); t = time.perf_counter() - t0; s.close()
print('%.2f' % (t * 1000))"
}

printf '%-32s %12s %12s %12s %14s %s\n' scenario dualstack curl python-asyncio "dualstack-rep" "(ms; rep = median of connects 2..$REPEAT in one process)"
row() {
    local label=$1 host=$2 o
    o=$(ours "$host")
    [ "$o" = fail ] && o=$(ours_fail_time "$host")
    printf '%-32s %12s %12s %12s %14s\n' "$label" "$o" "$(curl_time "$host")" "$(py_time "$host")" "$(ours_repeat "$host")"
}
row "healthy" healthy.test
row "IPv6 black-holed" bh6.test
row "four dead IPv6" dead4x6.test
row "AAAA +2s" slow6.test
row "AAAA +2s, IPv6 black-holed" slow6bh.test
row "A +2s" slow4.test
row "all dead (timeout ${TIMEOUT}s)" dead.test
lit_once=$(ours "$G6")
printf '%-32s %12s %12s %12s %14s\n' "plain connect to $G6" "$lit_once" "-" "$(plain_time)" "$(ours_repeat "$G6")"
echo "winner family per scenario (dualstack):"
for h in healthy.test bh6.test dead4x6.test slow6.test slow6bh.test slow4.test; do
    printf '  %-14s %s\n' "$h" "$(nsx "$BIN" connect -z --timeout "${TIMEOUT}s" "$h" "$PORT" 2>&1 | sed -n 's/^connected to \(.*\) in .*/\1/p')"
done
