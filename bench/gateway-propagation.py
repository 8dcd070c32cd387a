#!/usr/bin/env python3
"""Propagation of a policy change through three real gateways on one Redis.

Three release `graygate serve` processes share a throwaway redis-server; each
has a poller that sends requests back to back and notes when the decision
header `X-Graygate-Version` first shows each version. For every change: the
time from sending the write (a set-split call to gateway A's admin API) until
the write is acknowledged, and until all three gateways serve the new version.
Prints a table and writes JSON under bench/results/. Loopback only; bounded
by the number of writes (default 200).

    bench/gateway-propagation.py [--writes N] [--binary PATH]
"""

import argparse
import datetime
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from gateways import Stack, admin, connect, log, percentile, served_version  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def policy(upstream):
    return f"""[groups.v1]
servers = [{{ addr = "{upstream}" }}]
[groups.v2]
servers = [{{ addr = "{upstream}" }}]

[[routes]]
name = "web"
default = "v1"

[[routes.rules]]
name = "ramp"
split = {{ by = "user", salt = "web/ramp", weights = {{ v1 = 10000, v2 = 0 }} }}
"""


class Poller(threading.Thread):
    """Requests back to back; `first_seen[v]` is when version v first served."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.first_seen, self.stop = port, {}, False

    def run(self):
        conn = connect(self.port)
        while not self.stop:
            v = served_version(conn)
            self.first_seen.setdefault(v, time.monotonic())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writes", type=int, default=200)
    ap.add_argument("--binary", help="a graygate binary to use instead of building release")
    args = ap.parse_args()
    stack = Stack(args.binary)
    try:
        gws = [stack.gateway(f"gw{i}", policy(stack.upstream_addr)) for i in range(3)]
        deadline = time.time() + 20
        while any(served_version(connect(p)) < 1 for _, p, _ in gws):
            if time.time() > deadline:
                raise RuntimeError("the gateways never served the seeded version 1")
            time.sleep(0.05)
        pollers = [Poller(p) for _, p, _ in gws]
        for p in pollers:
            p.start()
        acked, everywhere = [], []
        for n in range(args.writes):
            share = (n % 19 + 1) * 500
            t0 = time.monotonic()
            saved = admin(gws[0][2], "PUT", "/api/v1/routes/web/splits/ramp",
                          {"weights": {"v1": 10000 - share, "v2": share}})
            acked.append(time.monotonic() - t0)
            v = saved["version"]
            deadline = t0 + 10
            while not all(v in p.first_seen for p in pollers):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"version {v} did not reach every gateway within 10 s")
                time.sleep(0.0002)
            everywhere.append(max(p.first_seen[v] for p in pollers) - t0)
        for p in pollers:
            p.stop = True
    finally:
        stack.close()

    ms = lambda xs, q: round(percentile(xs, q) * 1000, 2)  # noqa: E731
    rows = [("write acknowledged", acked), ("all 3 gateways serve it", everywhere)]
    table = ["| from the write's start until | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|"]
    table += [f"| {name} | {ms(xs, 50)} | {ms(xs, 99)} | {ms(xs, 100)} |" for name, xs in rows]
    print(f"policy propagation, {args.writes} writes, 3 gateways on one Redis (loopback)\n")
    print("\n".join(table))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"propagation-{stamp}.json"
    out.write_text(json.dumps({
        "writes": args.writes,
        "acked_ms": {q: ms(acked, q) for q in (50, 99, 100)},
        "all_gateways_ms": {q: ms(everywhere, q) for q in (50, 99, 100)},
    }, indent=2))
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
