"""What the load benchmarks share: the pinned processes, the configurations
of the upstream and of each proxy, wrk, and the machine's description.
`bench/run` (graygate against nginx and HAProxy) and `bench/scaling` (one
core against two) are built from these. 127.0.0.1 only."""

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateways import ROOT, ensure, log, wait_port  # noqa: E402

BENCH = ROOT / "bench"
WORK = BENCH / "work"
RESULTS = BENCH / "results"
LUA = BENCH / "lib" / "users.lua"

PROXY_CORES = "0"
LOAD_CORE = "1"
PORT = {"v1": 18001, "v2": 18002, "direct": 18001, "nginx": 18100, "haproxy": 18200, "graygate": 18300,
        "redis": 18400}
USERS = 100_000

# Keys seeded for the lookup scenarios: one user in ten is gray, as `gray:<uid>` = 1.
LOOKUP_USERS = 10_000


def ensure_packages():
    """What the load benchmarks run, from Debian's packages when missing."""
    for binary, package in {"nginx": "nginx-light", "haproxy": "haproxy", "wrk": "wrk", "taskset": "util-linux",
                            "redis-server": "redis-server"}.items():
        ensure(binary, package)


class Quota:
    """A CPU cgroup holding its processes to `cores` cores' worth of CPU time
    (CFS bandwidth control, cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us`),
    with a 10 ms period so that a throttled proxy waits at most that long."""

    PERIOD_US = 10_000

    def __init__(self, name, cores):
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        quota = int(cores * self.PERIOD_US)
        if v2.exists() and "cpu" in v2.read_text().split():
            Path("/sys/fs/cgroup/cgroup.subtree_control").write_text("+cpu")
            self.path = Path("/sys/fs/cgroup") / f"graygate-bench-{name}"
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
        elif Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists():
            self.path = Path("/sys/fs/cgroup/cpu") / f"graygate-bench-{name}"
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            raise RuntimeError("no CPU cgroup controller (cgroup v2 cpu.max or v1 cpu) to hold a CPU quota")

    def throttled(self):
        """Periods in which the quota ran out, so far."""
        for line in (self.path / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "nr_throttled":
                return int(value)
        return 0

    def wrap(self, cmd):
        """`cmd`, started inside the cgroup (its children stay there)."""
        return ["sh", "-c", f'echo $$ > "{self.path}/cgroup.procs" && exec "$@"', "sh", *cmd]

    def remove(self):
        try:
            self.path.rmdir()
        except OSError:
            pass


class Proc:
    """A pinned child process with its output in WORK/<name>.log; with a
    [`Quota`], held to that much CPU time as well."""

    def __init__(self, name, cmd, cores, port, quota=None):
        self.name = name
        out = open(WORK / f"{name}.log", "w")
        cmd = ["taskset", "-c", cores, *cmd]
        if quota:
            cmd = quota.wrap(cmd)
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(port, self.proc)

    def members(self):
        """(pid, utime + stime in ticks) of the process and all its children."""
        return [(pid, user + system) for pid, user, system in self.cpu_ticks()]

    def cpu_ticks(self):
        """(pid, utime, stime in ticks) of the process and all its children."""
        out = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # fields[2] is the process group (stat field 5); utime, stime are fields 14, 15.
            if int(fields[2]) == self.proc.pid:
                out.append((pid, int(fields[11]), int(fields[12])))
        return out

    def cpu_seconds(self):
        """User + system CPU of the process and all its children so far."""
        return sum(t for _, t in self.members()) / os.sysconf("SC_CLK_TCK")

    def cpu_split(self):
        """(user, system) CPU seconds of the process and all its children so far."""
        ticks = self.cpu_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        return sum(u for _, u, _ in ticks) / hz, sum(s for _, _, s in ticks) / hz

    def rss_mib(self):
        """Resident memory of the process and all its children, in MiB."""
        total = 0
        for pid, _ in self.members():
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    def perf_stat(self, duration):
        """Starts `perf stat` on the process and its children for `duration`
        seconds: instructions retired in user space and in the kernel. Unlike
        requests/s, these hardly move with the noise of a shared host."""
        pids = ",".join(pid for pid, _ in self.members())
        return subprocess.Popen(["perf", "stat", "-x,", "-e", "instructions:u,instructions:k", "-p", pids,
                                 "--", "sleep", str(duration)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def perf_works():
    """Whether `perf stat` can count instructions here: not without perf,
    nor on a virtual machine that exposes no hardware counters (perf then
    answers `<not supported>`)."""
    if not shutil.which("perf"):
        log("perf is not installed (Debian: linux-perf): instructions per request are left out")
        return False
    p = subprocess.run(["perf", "stat", "-x,", "-e", "instructions:u", "true"], capture_output=True, text=True)
    if not any(line.split(",")[0].isdigit() for line in p.stderr.splitlines()):
        log("perf cannot count instructions on this machine (no hardware counters): instructions per request "
            "are left out; bench/callgrind counts user-space instructions without them")
        return False
    return True


def perf_counts(p):
    """{"instr_user": n, "instr_kernel": n} from a finished `perf stat -x,`."""
    out = {}
    for line in p.communicate()[1].splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].isdigit():
            out["instr_user" if f[2].endswith(":u") else "instr_kernel"] = int(f[0])
    return out


def median_run(runs):
    """The round with the median throughput, with every round's throughput."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    mid = dict(ordered[(len(ordered) - 1) // 2])
    mid["rounds_rps"] = [round(r["rps"]) for r in runs]
    return mid


def write(name, text):
    path = WORK / name
    path.write_text(text)
    return path


def nginx_head(name, workers):
    """What both nginx configurations start with, up to inside `http {`."""
    return f"""
daemon off;
worker_processes {workers};
pid {WORK}/{name}.pid;
error_log {WORK}/{name}-error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path {WORK}/tmp-body;
    proxy_temp_path {WORK}/tmp-proxy;
    fastcgi_temp_path {WORK}/tmp-fcgi;
    uwsgi_temp_path {WORK}/tmp-uwsgi;
    scgi_temp_path {WORK}/tmp-scgi;"""


def upstream_conf():
    (WORK / "big").write_bytes(b"x" * 65536)
    return write("upstream.conf", nginx_head("upstream", 1) + f"""
    server {{
        listen 127.0.0.1:{PORT['v1']} backlog=4096;
        location / {{ return 200 "v1\\n"; }}
        location = /big {{ alias {WORK}/big; }}
    }}
    server {{
        listen 127.0.0.1:{PORT['v2']} backlog=4096;
        location / {{ return 200 "v2\\n"; }}
        location = /big {{ alias {WORK}/big; }}
    }}
}}
""")


def nginx_conf(workers=1):
    return write("nginx.conf", nginx_head("nginx", workers) + f"""
    upstream v1 {{ server 127.0.0.1:{PORT['v1']}; keepalive 256; keepalive_requests 10000000; }}
    upstream v2 {{ server 127.0.0.1:{PORT['v2']}; keepalive 256; keepalive_requests 10000000; }}
    split_clients "${{http_x_user_id}}" $group {{
        10% v2;
        *   v1;
    }}
    server {{
        listen 127.0.0.1:{PORT['nginx']} backlog=4096;
        location / {{
            proxy_pass http://$group;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # What graygate sends upstream as well (docs/security.md): the
            # client address, replacing the client's own claims, the scheme,
            # and the version chosen, so that the upstream parses the same head.
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Gray-Tag $group;
        }}
    }}
}}
""")


def haproxy_conf():
    return write("haproxy.cfg", f"""
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:{PORT['haproxy']}
    # What graygate and nginx send upstream as well: the client address,
    # replacing the client's own claims, the scheme, and the version chosen.
    http-request set-header X-Forwarded-For %[src]
    http-request set-header X-Real-IP %[src]
    http-request set-header X-Forwarded-Proto http
    use_backend v2 if {{ req.hdr(x-user-id),crc32(1),mod(10000) lt 1000 }}
    default_backend v1
backend v1
    http-request set-header X-Gray-Tag v1
    server s1 127.0.0.1:{PORT['v1']}
backend v2
    http-request set-header X-Gray-Tag v2
    server s2 127.0.0.1:{PORT['v2']}
""")


def graygate_conf(workers, extra=(), lookup=False):
    # The policy below must be what serves: start from an empty store (the
    # store's version would otherwise win over this file, see
    # docs/operations.md).
    shutil.rmtree(WORK / "graygate-data" / "store", ignore_errors=True)
    cidrs = ", ".join(f'"10.{i // 256}.{i % 256}.0/24"' for i in range(1000))
    beta = ", ".join(f'"beta-{i}"' for i in range(100_000))
    return write("graygate.toml", f"""
user_id = [{{ header = "X-User-ID" }}]

[gateway]
listen = "127.0.0.1:{PORT['graygate']}"
workers = {workers}
access_log = "off"
# Idle upstream connections kept, as nginx's `keepalive 256` above.
upstream_max_idle = 256
data_dir = "{WORK}/graygate-data"
{chr(10).join(extra)}
{lookup_table(lookup)}
[gateway.admin]
enabled = false

[groups.v1]
servers = [{{ addr = "127.0.0.1:{PORT['v1']}" }}]

[groups.v2]
servers = [{{ addr = "127.0.0.1:{PORT['v2']}" }}]

[lists]
beta = [{beta}]

[[routes]]
name = "app"
default = "v1"

[[routes.rules]]
name = "force"
when = {{ header = "X-Gray", equals = "1" }}
to = "v2"

[[routes.rules]]
name = "offices"
when = {{ ip = [{cidrs}] }}
to = "v2"

[[routes.rules]]
name = "beta"
when = {{ list = "beta" }}
to = "v2"
{lookup_rule(lookup)}
[[routes.rules]]
name = "ten-percent"
split = {{ by = "user", salt = "bench", weights = {{ v2 = 1000, v1 = 9000 }} }}
""")


def lookup_table(lookup):
    # Long TTLs: "warm" means every answer is cached; "cold" users are never repeated.
    if not lookup:
        return ""
    return f"""
[gateway.lookup]
url = "redis://127.0.0.1:{PORT['redis']}"
ttl_found_ms = 600000
ttl_missing_ms = 600000
"""


def lookup_rule(lookup):
    if not lookup:
        return ""
    return """
[[routes.rules]]
name = "gray-users"
when = { lookup = "gray:{user}", equals = "1" }
to = "v2"
"""


def redis_seed():
    """One user in ten of the lookup scenarios' users is gray: `gray:user-N` = 1."""
    args = []
    for i in range(0, LOOKUP_USERS, 10):
        args += [f"gray:user-{i}", "1"]
    cmd = f"*{len(args) + 1}\r\n$4\r\nMSET\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", PORT["redis"])) as s:
        s.sendall(cmd.encode())
        if not s.recv(64).startswith(b"+OK"):
            raise RuntimeError("seeding redis failed")


def start(contender, graygate, cores, workers, gg_extra=(), lookup=False):
    if contender == "direct":
        return None
    if contender == "nginx":
        return Proc("nginx", ["nginx", "-p", str(WORK), "-c", str(nginx_conf())], cores, PORT["nginx"])
    if contender == "haproxy":
        return Proc("haproxy", ["haproxy", "-db", "-f", str(haproxy_conf())], cores, PORT["haproxy"])
    if contender == "graygate":
        return Proc("graygate", [str(graygate), "serve", "--config", str(graygate_conf(workers, gg_extra, lookup))], cores,
                    PORT["graygate"])
    raise ValueError(contender)


def wrk(port, scenario, duration, cores=LOAD_CORE):
    env = dict(os.environ, BENCH_USERS=str(scenario.get("users", USERS)), BENCH_PATH=scenario.get("path", "/"),
               BENCH_CLOSE="1" if scenario.get("close") else "0", BENCH_UNIQUE="1" if scenario.get("unique") else "0")
    cmd = ["taskset", "-c", cores, "wrk", "-t1", f"-c{scenario['conns']}", f"-d{duration}s", "--timeout", "5s",
           "-s", str(LUA), f"http://127.0.0.1:{port}/"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 30)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    r = json.loads(lines[-1])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors_total"] = sum(r["errors"].values())
    return r


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    versions = {}
    for name, cmd in {"nginx": ["nginx", "-v"], "haproxy": ["haproxy", "-v"], "wrk": ["wrk", "-v"]}.items():
        p = subprocess.run(cmd, capture_output=True, text=True)
        versions[name] = (p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr).strip() else "?"
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "graygate_commit": rev, **versions}
