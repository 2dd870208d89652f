#!/usr/bin/env bash
# Benchmark for Happy Eyeballs v3 (draft-ietf-happy-happyeyeballs-v3-04): HTTPS records
# (`connect --svcb`) and history across runs (`--history FILE`), against curl, Go
# (net.Dialer, its default 300 ms fallback delay) and Python asyncio
# (happy_eyeballs_delay=0.25), side by side from one run. First connect of a fresh process
# each time, ms, DNS included.
#
# Needs root: a network namespace (198.51.100.0/24 and 2001:db8::/32 on lo, nftables drops
# for silent black holes) with the fake DNS server (examples/fake_dns.rs) as its resolver.
# No traffic leaves the namespace. Without root (or curl, go, python3) it says so and
# exits 0.
#
#   bash bench/hev3.sh              # debug build (PROFILE=release for release)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "bench/hev3.sh: needs root (network namespace, nftables); skipping." >&2
    exit 0
fi
for tool in ip nft curl python3 go; do
    command -v "$tool" >/dev/null || { echo "bench/hev3.sh: needs $tool; skipping." >&2; exit 0; }
done

PROFILE=${PROFILE:-debug}
if [ "$PROFILE" = release ]; then
    cargo build -q --release --bin dualstack --example fake_dns
else
    cargo build -q --bin dualstack --example fake_dns
fi
BIN=$PWD/target/$PROFILE/dualstack
FAKE_DNS=$PWD/target/$PROFILE/examples/fake_dns
NS=dshev3$$
PORT=443
TIMEOUT=5
WORK=$(mktemp -d)
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    # `ip netns exec` wrappers die without their children: end what runs inside.
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "/etc/netns/$NS" "$WORK"
}
trap cleanup EXIT

# The Go peer: net.Dialer's own Happy Eyeballs (RFC 6555 style, 300 ms fallback delay).
cat > "$WORK/dial.go" <<'GO'
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	t0 := time.Now()
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).Dial("tcp", net.JoinHostPort(os.Args[1], os.Args[2]))
	if err != nil {
		fmt.Printf("fail %d\n", time.Since(t0).Milliseconds())
		return
	}
	fmt.Printf("%.1f\n", float64(time.Since(t0).Microseconds())/1000)
	c.Close()
}
GO
(cd "$WORK" && GOFLAGS=-mod=mod GO111MODULE=off go build -o dial dial.go)

ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx ip link set lo up
for a in 2001:db8::10 2001:db8::66; do nsx ip addr add "$a/128" dev lo nodad; done
for a in 198.51.100.10 198.51.100.66; do nsx ip addr add "$a/32" dev lo; done
nsx nft add table inet bench
nsx nft add chain inet bench in '{ type filter hook input priority 0; }'
nsx nft add rule inet bench in ip6 daddr 2001:db8::66 drop
nsx nft add rule inet bench in ip daddr 198.51.100.66 drop

mkdir -p "/etc/netns/$NS"
printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n' > "/etc/netns/$NS/resolv.conf"
printf '127.0.0.1 localhost\n' > "/etc/netns/$NS/hosts"

G6=2001:db8::10 G4=198.51.100.10
nsx "$FAKE_DNS" --listen 127.0.0.1:53 \
    --record "hint.test HTTPS 1 . alpn=h2 ipv4hint=$G4 ipv6hint=$G6" \
    --record "hint.test AAAA $G6 2s" --record "hint.test A $G4 2s" \
    --record "slowhttps.test HTTPS 1 . alpn=h2 2s" \
    --record "slowhttps.test AAAA $G6" --record "slowhttps.test A $G4" \
    --record "deadhints.test HTTPS 1 . ipv4hint=198.51.100.66 ipv6hint=2001:db8::66" \
    --record "deadhints.test AAAA $G6" --record "deadhints.test A $G4" \
    --record "healthy.test AAAA $G6" --record "healthy.test A $G4" \
    --record "bh6.test AAAA 2001:db8::66" --record "bh6.test A $G4" \
    >/dev/null &
pids+=($!)

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

ours() { # first connect of a fresh process, ms; extra options after the host
    local host=$1; shift
    nsx "$BIN" connect -z --json --timeout "${TIMEOUT}s" "$@" "$host" "$PORT" 2>/dev/null |
        python3 -c 'import json,sys; print("%.1f" % json.loads(sys.stdin.readline())["elapsed_ms"])' 2>/dev/null ||
        echo "fail"
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
go_time() { nsx "$WORK/dial" "$1" "$PORT"; }
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

echo "load: $(cut -d' ' -f1-3 /proc/loadavg); profile: $PROFILE"
printf '%-44s %10s %10s %10s %10s\n' scenario dualstack curl go python
row() {
    local label=$1 host=$2; shift 2
    printf '%-44s %10s %10s %10s %10s\n' "$label" "$(ours "$host" "$@")" \
        "$(curl_time "$host")" "$(go_time "$host")" "$(py_time "$host")"
}
row "HTTPS hints, AAAA+A 2 s late (--svcb)" hint.test --svcb --no-cache
row "HTTPS 2 s late, AAAA+A at once (--svcb)" slowhttps.test --svcb --no-cache
row "dead hints, good AAAA+A (--svcb)" deadhints.test --svcb --no-cache
HIST=$WORK/history
ours healthy.test --history "$HIST" >/dev/null
row "IPv6 black-holed, RTT history (--history)" bh6.test --history "$HIST"
row "same again, fresh process (--history)" bh6.test --history "$HIST"
row "IPv6 black-holed, no history" bh6.test --no-cache
