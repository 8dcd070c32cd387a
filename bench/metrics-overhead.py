#!/usr/bin/env python3
"""What recording metrics costs: graygate with `[gateway] metrics = true` and
`false`, alternately, through bench/run's keep-alive scenario on one pinned
core (wrk and the upstream on the other). Prints requests/s and requests per
proxy core-second per run, and the mean of each setting.

    bench/metrics-overhead.py [--rounds 3] [--duration 10]

Everything runs on 127.0.0.1; see bench/README.md.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


def run(setting, duration, label):
    subprocess.run([sys.executable, str(BENCH / "run"), "--scenarios", "keepalive", "--contenders", "graygate",
                    "--duration", str(duration), "--graygate-set", f"metrics = {setting}", "--label", label],
                   check=True)
    latest = max(RESULTS.glob(f"*-{label}.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(latest.read_text())["results"]["keepalive"]["graygate"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    args = ap.parse_args()
    rows = {"false": [], "true": []}
    for i in range(args.rounds):
        for setting in ("false", "true"):
            rows[setting].append(run(setting, args.duration, f"metrics-{'on' if setting == 'true' else 'off'}"))
    print("\n| metrics | run | requests/s | proxy CPU % | requests per proxy core-second | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    mean = {}
    for setting, rs in rows.items():
        for i, r in enumerate(rs):
            print(f"| {setting} | {i + 1} | {r['rps']:,.0f} | {r['proxy_cpu_pct']:.0f} | {r['per_core_s']:,.0f} | "
                  f"{r['p99_us'] / 1000:.3f} |")
        mean[setting] = (sum(r["rps"] for r in rs) / len(rs), sum(r["per_core_s"] for r in rs) / len(rs))
        print(f"| {setting} | mean | {mean[setting][0]:,.0f} | | {mean[setting][1]:,.0f} | |")
    on, off = mean["true"], mean["false"]
    print(f"\nmetrics on / off: {on[0] / off[0]:.3f}× requests/s, {on[1] / off[1]:.3f}× per core-second "
          f"(cost {100 * (1 - on[1] / off[1]):.1f} % per core)")


if __name__ == "__main__":
    main()
