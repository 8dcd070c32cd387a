#!/usr/bin/env python3
"""A gateway's memory while distinct user ids go through per-user key lookups.

A release `graygate serve` (one worker) routes on `lookup = "gray:{user}"`
against a throwaway redis-server holding gray keys for some of the ids;
wrk sends IDS requests, each with a new X-User-ID, so every request is a
cache miss and a Redis GET, and the cache fills to its byte bound and
evicts. The gateway's RSS is sampled every 0.5 s; the table gives the RSS
before the load, the peak (VmHWM), the configured cache bound, and the peak
minus the base and the bound. Loopback only; bounded by IDS and a time cap.

    bench/gateway-lookup-memory.py [--ids 10000000] [--max-bytes 67108864]
"""

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from gateways import Stack, ensure, log  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
THREADS = 2

LUA = """
local n, limit, prefix, threads = 0, 0, "", 0
function setup(thread)
  threads = threads + 1
  thread:set("prefix", "t" .. threads .. "-")
end
function init(args)
  limit = tonumber(args[1])
  prefix = wrk.thread:get("prefix") or "t-"
end
function request()
  n = n + 1
  return wrk.format("GET", "/", { ["X-User-ID"] = prefix .. n })
end
function response(status, headers, body)
  if n >= limit then wrk.thread:stop() end
end
"""


def redis_commands(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "stats"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("total_commands_processed:"):
            return int(line.split(":")[1])
    return 0


def status_kib(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ids", type=int, default=10_000_000)
    ap.add_argument("--max-bytes", type=int, default=64 << 20)
    ap.add_argument("--max-minutes", type=float, default=30)
    args = ap.parse_args()
    ensure("wrk", "wrk")
    stack = Stack()
    try:
        stack.fast_upstream(cpus="1")
        # Every 10th of the first 100,000 ids of each wrk thread is gray, the
        # seed's way: gray:<uid> = 1.
        redis_cli = ["redis-cli", "-p", str(stack.redis_port)]
        keys = "".join(f"SET gray:t{t}-{i} 1\n" for t in range(1, THREADS + 1) for i in range(10, 100_001, 10))
        subprocess.run(redis_cli, input=keys.encode(), stdout=subprocess.DEVNULL, check=True)
        policy = f"""[groups.v1]
servers = [{{ addr = "{stack.upstream_addr}" }}]
[groups.v2]
servers = [{{ addr = "{stack.upstream_addr}" }}]

[[routes]]
name = "web"
default = "v1"

[[routes.rules]]
name = "gray-users"
when = {{ lookup = "gray:{{user}}", equals = "1" }}
to = "v2"
"""
        lookup = f"[gateway.lookup]\nmax_bytes = {args.max_bytes}\nmax_entries = 100000000\n"
        proc, port, _ = stack.gateway("lookup", policy, extra=lookup, cpus="0")
        time.sleep(1)
        base = status_kib(proc.pid, "VmRSS")
        script = Path(tempfile.mkdtemp()) / "ids.lua"
        script.write_text(LUA)
        per_thread = args.ids // THREADS
        wrk = subprocess.Popen(
            ["taskset", "-c", "1", "wrk", "-t", str(THREADS), "-c", "32", "-d", f"{int(args.max_minutes * 60)}s",
             "-s", str(script), f"http://127.0.0.1:{port}/", "--", str(per_thread)],
            stdout=subprocess.PIPE, text=True)
        samples, start = [], time.time()
        seeded = keys.count("\n")
        while wrk.poll() is None:
            samples.append((round(time.time() - start, 1), status_kib(proc.pid, "VmRSS")))
            # wrk's threads stop at their share, but wrk itself may wait for
            # its duration: SIGINT (wrk then prints its summary) once Redis
            # has answered every id.
            if redis_commands(stack.redis_port) >= seeded + per_thread * THREADS:
                wrk.send_signal(signal.SIGINT)
            time.sleep(0.5)
        out = wrk.stdout.read()
        peak = status_kib(proc.pid, "VmHWM")
    finally:
        stack.close()
    requests = next((int(line.split()[0]) for line in out.splitlines() if "requests in" in line), 0)
    mib = lambda kib: round(kib / 1024, 1)  # noqa: E731
    bound = args.max_bytes / (1 << 20)
    print(f"per-user key lookups: {requests:,} requests with distinct ids, cache bound {bound:.0f} MiB\n")
    print("| RSS before load | peak RSS (VmHWM) | cache bound | peak − base − bound |")
    print("|---:|---:|---:|---:|")
    print(f"| {mib(base)} MiB | {mib(peak)} MiB | {bound:.0f} MiB | {mib(peak) - mib(base) - bound:.1f} MiB |")
    print("\nwrk:\n" + out)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest = RESULTS / f"lookup-memory-{stamp}.json"
    dest.write_text(json.dumps({"requests": requests, "base_mib": mib(base), "peak_mib": mib(peak),
                                "bound_mib": bound, "rss_samples_kib": samples[::4]}, indent=2))
    log(f"wrote {dest}")


if __name__ == "__main__":
    main()
