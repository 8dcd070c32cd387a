"""The pieces of `bench/chaos` and `bench/soak`: killable processes (Redis
with an append-only file, upstream servers, `graygate serve`), steady
keep-alive load from Python threads, a policy writer that talks to the admin
API, and an offline evaluator of the policies they use, so that every
response can be checked against the policy version that it names.

Everything listens on 127.0.0.1 only; every loop is bounded by a deadline;
`Harness.close()` stops every process started here (the scripts call it in
`finally`, and turn SIGTERM into KeyboardInterrupt so that it runs)."""

import collections
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import shutil
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bucket import Salt  # noqa: E402
from gateways import TOKEN, build_graygate, ensure, free_port, log, wait_port  # noqa: E402

HERE = Path(__file__).resolve().parent
GROUPS = ("v1", "v2")


def sigterm_is_interrupt():
    """SIGTERM (and SIGHUP) end the run like Ctrl-C, so cleanup runs."""
    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


# ── processes ────────────────────────────────────────────────────────────────

class Harness:
    """Owns a temporary directory and every process started for one run."""

    def __init__(self, binary=None, prefix="graygate-chaos-"):
        ensure("redis-server", "redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.binary = build_graygate(binary)
        self.procs = []  # objects with .stop()

    def close(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                log(f"stopping {p}: {e}")
        self.procs = []
        if os.environ.get("GRAYGATE_BENCH_KEEP"):
            log(f"kept {self.dir} (GRAYGATE_BENCH_KEEP): configs and logs")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Proc:
    """A process that can be killed with SIGKILL and started again with the
    same command line (same ports, same data)."""

    def __init__(self, harness, name, cmd, ports, env=None):
        self.h, self.name, self.cmd, self.ports, self.env = harness, name, cmd, ports, env
        self.proc = None
        self.log = harness.dir / f"{name}.log"
        harness.procs.append(self)
        self.start()

    def start(self, timeout=30.0):
        assert self.proc is None or self.proc.poll() is not None
        out = open(self.log, "a")
        self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=out, env=self.env, stdin=subprocess.DEVNULL)
        out.close()
        for port in self.ports:
            wait_port(port, self.proc, timeout)

    @property
    def pid(self):
        return self.proc.pid

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __repr__(self):
        return self.name


class Redis(Proc):
    """redis-server with `appendonly yes` and `appendfsync always`: a write it
    acknowledged survives kill -9, as in a real deployment."""

    def __init__(self, harness, name="redis"):
        self.port = free_port()
        data = harness.dir / name
        data.mkdir()
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)]
        super().__init__(harness, name, cmd, [self.port])
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self, timeout=30.0):
        super().start(timeout)
        deadline = time.time() + timeout
        while self.command("PING") != "PONG":  # loading the append-only file
            if time.time() > deadline:
                raise RuntimeError("redis never answered PING")
            time.sleep(0.05)

    def command(self, *args):
        """One command in RESP; the reply (simple types only)."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(out)
                f = s.makefile("rb")
                line = f.readline()
        except OSError:
            return None
        if line[:1] in (b"+", b"-", b":"):
            return line[1:].strip().decode()
        if line[:1] == b"$":
            n = int(line[1:])
            return None if n < 0 else f.read(n + 2)[:-2].decode()
        return line.decode()


class Upstream(Proc):
    """`lib/upstream.py`: answers 200 with `X-Upstream: NAME`."""

    def __init__(self, harness, name):
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        super().__init__(harness, name, [sys.executable, str(HERE / "upstream.py"), str(self.port), name], [self.port])


class Gateway(Proc):
    """`graygate serve` on a Redis store, admin API and decision headers on."""

    def __init__(self, harness, name, policy_doc, redis_url, settings="", store=""):
        self.port, self.admin_port = free_port(), free_port()
        config = harness.dir / f"{name}.toml"
        config.write_text(to_toml(policy_doc) + f"""
[gateway]
listen = "127.0.0.1:{self.port}"
workers = 1
access_log = "off"
decision_headers = true
data_dir = "{harness.dir / name}"
{settings}

[gateway.admin]
listen = "127.0.0.1:{self.admin_port}"
token = "{TOKEN}"

[gateway.store]
kind = "redis"
url = "{redis_url}"
{store}
""")
        self.config = config
        cmd = [str(harness.binary), "serve", "--config", str(config)]
        env = dict(os.environ, GRAYGATE_LOG=os.environ.get("GRAYGATE_LOG", "warn"))
        super().__init__(harness, name, cmd, [self.port, self.admin_port], env=env)

    def rss_kib(self):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        """User + system CPU time the process has used."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))


# ── the admin API ────────────────────────────────────────────────────────────

class AdminError(Exception):
    def __init__(self, status, body):
        super().__init__(f"{status}: {body[:300]}")
        self.status, self.body = status, body


def admin(port, method, path, body=None, if_match=None, timeout=10):
    """One admin call; the decoded answer. Raises AdminError for an HTTP
    error status, OSError when the call did not get an answer."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "X-Actor": "chaos"}
    if if_match is not None:
        headers["If-Match"] = f'"{if_match}"'
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise AdminError(e.code, e.read().decode(errors="replace")) from None


# ── policies and their offline evaluation ────────────────────────────────────

def _key(k):
    return k if k.replace("-", "").replace("_", "").isalnum() else json.dumps(k)


def _inline(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_inline(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_inline(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(doc):
    """A policy document (the admin API's JSON) as TOML top-level keys with
    inline values; it goes before the `[gateway]` tables of a config."""
    return "".join(f"{_key(k)} = {_inline(v)}\n" for k, v in doc.items())


def make_policy(servers, share=1000, salt="chaos-a", first="v1", beta=(), header_to="v2",
                order=("gray-header", "beta", "gray-users"), lookup=True):
    """The benchmarks' policy shape: a header rule, a list rule, a per-user
    Redis key (`gray:{user}`) and a hash split on the user id; default v1.
    `servers` maps group → list of "host:port"."""
    rules = {
        "gray-header": {"name": "gray-header", "when": {"header": "X-Gray", "equals": "1"}, "to": header_to},
        "beta": {"name": "beta", "when": {"list": "beta"}, "to": "v2"},
        "gray-users": {"name": "gray-users", "when": {"lookup": "gray:{user}", "equals": "1"}, "to": "v2"},
    }
    weights = {"v1": 10000 - share, "v2": share}
    if first == "v2":
        weights = {"v2": share, "v1": 10000 - share}
    route_rules = [rules[n] for n in order if lookup or n != "gray-users"]
    route_rules.append({"name": "ramp", "split": {"by": "user", "salt": salt, "weights": weights}})
    return {
        "groups": {g: {"servers": [{"addr": a} for a in servers[g]]} for g in GROUPS},
        "lists": {"beta": sorted(beta)},
        "routes": [{"name": "web", "default": "v1", "rules": route_rules}],
    }


_salts = {}


def bucket(salt, user):
    s = _salts.get(salt)
    if s is None:
        s = _salts[salt] = Salt(salt)
    return s.bucket(user)


class Unsupported(Exception):
    pass


def _holds(when, doc, user, gray, lookups):
    if set(when) == {"header", "equals"}:
        value = "1" if (when["header"].lower() == "x-gray" and gray) else None
        return value is not None and value == str(when["equals"])
    if set(when) == {"list"}:
        return user in set(doc.get("lists", {}).get(when["list"], ()))
    if set(when) == {"lookup", "equals"}:
        value = lookups.get(when["lookup"].replace("{user}", user))
        return value is not None and value == str(when["equals"])
    raise Unsupported(f"condition {when}")


def decide(doc, user, gray, lookups):
    """(group, rule) that `doc` decides for a request of `user` with
    `X-Gray: 1` when `gray`, `lookups` holding the per-user keys. Only the
    shapes `make_policy` writes are understood (Unsupported otherwise)."""
    routes = doc["routes"]
    if len(routes) != 1 or routes[0].get("host") or routes[0].get("path_prefix", "/") != "/" or routes[0].get("sticky"):
        raise Unsupported("one catch-all, non-sticky route expected")
    route = routes[0]
    for rule in route.get("rules") or []:
        when = rule.get("when")
        if when is not None and not _holds(when, doc, user, gray, lookups):
            continue
        if "to" in rule:
            return rule["to"], rule["name"]
        split = rule["split"]
        if split.get("by", "user") != "user":
            raise Unsupported(f"split {split}")
        b = bucket(split.get("salt") or f"{route['name']}/{rule['name']}", user)
        end, last = 0, None
        for g, w in split["weights"].items():
            if w == 0:
                continue
            end += w
            last = g
            if b < end:
                return g, rule["name"]
        return last, rule["name"]
    return route["default"], "default"


def canon(doc):
    """What a version must hold for our writes to count as kept: the rules,
    their order, the split's weights in order, the lists' members, default."""
    route = doc["routes"][0]
    rules = []
    for r in route.get("rules") or []:
        x = {"name": r.get("name"), "when": json.dumps(r.get("when"), sort_keys=True), "to": r.get("to")}
        if "split" in r:
            s = r["split"]
            x["split"] = [s.get("by", "user"), s.get("salt"), [[g, w] for g, w in s["weights"].items()]]
        rules.append(x)
    lists = {k: sorted(v) for k, v in (doc.get("lists") or {}).items() if v}
    return json.dumps({"default": route["default"], "rules": rules, "lists": lists}, sort_keys=True)


# ── load ─────────────────────────────────────────────────────────────────────

class HttpError(Exception):
    pass


class _Conn:
    """A minimal keep-alive HTTP/1.1 client: the decision headers, the
    upstream's name, the status — fast enough for a few thousand req/s."""

    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")

    def get(self, data):
        self.sock.sendall(data)
        line = self.f.readline(65536)
        if not line:
            raise HttpError("connection closed before a response")
        status = int(line.split(None, 2)[1])
        headers = {}
        while True:
            h = self.f.readline(65536)
            if h in (b"\r\n", b"\n"):
                break
            if not h:
                raise HttpError("connection closed in the response head")
            k, _, v = h.partition(b":")
            headers[k.strip().lower()] = v.strip()
        if b"content-length" in headers:
            n = int(headers[b"content-length"])
            if len(self.f.read(n)) != n:
                raise HttpError("connection closed in the body")
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                size = int(self.f.readline(1024).split(b";")[0], 16)
                self.f.read(size + 2)
                if size == 0:
                    break
        else:
            raise HttpError("response without a length")
        keep = headers.get(b"connection", b"").lower() != b"close"
        return status, headers, keep

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def request_bytes(user, gray):
    return (f"GET /chaos HTTP/1.1\r\nHost: 127.0.0.1\r\nX-User-ID: {user}\r\n"
            + ("X-Gray: 1\r\n" if gray else "") + "\r\n").encode()


class Worker(threading.Thread):
    """One client thread: keep-alive requests to one gateway at a fixed pace."""

    def __init__(self, load, index, target):
        super().__init__(daemon=True, name=f"client-{index}")
        self.load, self.target = load, target  # target: a Gateway
        self.rng = random.Random(1000 + index)
        self.counts = collections.Counter()  # (target, user, gray, version, group, upstream, status)
        self.errors = []  # (t, target name, kind, detail)
        self.lat = []  # seconds, since the last sample
        self.sent = 0
        self.timeline = collections.Counter()  # (upstream, whole seconds since the start) → responses
        self.lat_by_second = collections.defaultdict(list)  # whole seconds since the start → latencies

    def run(self):
        load = self.load
        period = load.threads / load.rate
        nxt = time.monotonic()
        conn = None
        users, gray_share = load.users, load.gray_share
        while not load.stopping and time.monotonic() < load.deadline:
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            elif now - nxt > 1.0:  # far behind (a pause): do not burst to catch up
                nxt = now
            nxt += period
            user = users[self.rng.randrange(len(users))]
            gray = self.rng.random() < gray_share
            t0 = time.monotonic()
            self.sent += 1
            try:
                if conn is None:
                    conn = _Conn(self.target.port, load.timeout)
                status, headers, keep = conn.get(request_bytes(user, gray))
            except ConnectionRefusedError as e:
                self.errors.append((time.monotonic(), self.target.name, "refused", str(e)))
                conn = None
                time.sleep(0.02)
                continue
            except (OSError, HttpError, ValueError, IndexError) as e:
                kind = "timeout" if isinstance(e, socket.timeout) else "connection"
                self.errors.append((time.monotonic(), self.target.name, kind, f"{type(e).__name__}: {e}"))
                if conn is not None:
                    conn.close()
                conn = None
                continue
            self.lat.append(time.monotonic() - t0)
            if status >= 500:
                self.errors.append((time.monotonic(), self.target.name, f"http {status}",
                                    headers.get(b"x-graygate-group", b"").decode()))
            if load.record:
                self.timeline[(headers.get(b"x-upstream", b"").decode(), int(t0 - load.t0))] += 1
                self.lat_by_second[int(t0 - load.t0)].append(self.lat[-1])
                self.counts[(self.target.name, user, gray, int(headers.get(b"x-graygate-version", b"-1")),
                             headers.get(b"x-graygate-group", b"").decode(),
                             headers.get(b"x-upstream", b"").decode(), status)] += 1
            if not keep:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()


class Load:
    """`threads` client threads sharing `rate` requests/s, spread over the
    targets (gateways), users drawn uniformly, `gray_share` with X-Gray: 1."""

    def __init__(self, targets, users, rate, threads=8, gray_share=0.1, max_seconds=3600, record=True, timeout=5.0):
        self.users, self.rate, self.threads, self.gray_share = users, rate, threads, gray_share
        self.record, self.timeout = record, timeout
        self.stopping = False
        self.deadline = time.monotonic() + max_seconds
        self.workers = [Worker(self, i, targets[i % len(targets)]) for i in range(threads)]

    def start(self):
        self.t0 = time.monotonic()
        for w in self.workers:
            w.start()

    def stop(self):
        self.stopping = True
        for w in self.workers:
            w.join(timeout=30)

    def sent(self):
        return sum(w.sent for w in self.workers)

    def counts(self):
        c = collections.Counter()
        for w in self.workers:
            c.update(w.counts)
        return c

    def timeline(self):
        c = collections.Counter()
        for w in self.workers:
            c.update(w.timeline)
        return c

    def latency_by_second(self):
        """[(second, p50 ms, p99 ms, max ms)] of the responses started in each second."""
        merged = collections.defaultdict(list)
        for w in self.workers:
            for sec, lat in w.lat_by_second.items():
                merged[sec].extend(lat)
        return [(sec, round(percentile(v, 50) * 1000, 2), round(percentile(v, 99) * 1000, 2), round(max(v) * 1000, 2))
                for sec, v in sorted(merged.items())]

    def errors(self):
        return sorted(e for w in self.workers for e in w.errors)

    def take_latencies(self):
        out = []
        for w in self.workers:
            lat, w.lat = w.lat, []
            out.extend(lat)
        return out


def served_version(gw, user="probe", timeout=2.0):
    """(version, group) in the decision headers of one request to `gw`."""
    c = _Conn(gw.port, timeout)
    try:
        status, headers, _ = c.get(request_bytes(user, False))
        return int(headers.get(b"x-graygate-version", b"-1")), headers.get(b"x-graygate-group", b"").decode()
    finally:
        c.close()


def wait_version(gw, version, timeout=15.0):
    """Waits until `gw` serves `version`; the version it last served."""
    deadline = time.monotonic() + timeout
    v = None
    while time.monotonic() < deadline:
        try:
            v, _ = served_version(gw)
        except (OSError, HttpError):
            v = None
        if v == version:
            return v
        time.sleep(0.05)
    return v


# ── the policy writer ────────────────────────────────────────────────────────

class Writer(threading.Thread):
    """Changes the policy through the admin API every `interval` (a range,
    seconds): set-split calls, whole-policy PUTs with If-Match, list
    add/remove. Records every acknowledged write with the document it must
    have produced (`acked`), and every call that was refused or got no
    answer."""

    def __init__(self, admin_port, doc, version, users, interval=(0.1, 0.2), ops=("split", "policy", "list"),
                 max_seconds=3600, seed=7):
        super().__init__(daemon=True, name="writer")
        self.admin_port = admin_port  # a function: which gateway's admin API to call
        self.doc, self.version = json.loads(json.dumps(doc)), version
        self.users, self.interval, self.ops = users, interval, ops
        self.rng = random.Random(seed)
        self.stopping = False
        self.deadline = time.monotonic() + max_seconds
        self.acked = []  # (version, canon, op, t)
        self.refused = collections.Counter()  # status → count
        self.no_answer = 0
        self.resyncs = []  # (version found, whether it held a write we were not told about)
        self.in_sync = True

    def run(self):
        while not self.stopping and time.monotonic() < self.deadline:
            time.sleep(self.rng.uniform(*self.interval))
            if not self.in_sync and not self.resync():
                continue
            self.write_one()

    def resync(self):
        try:
            cur = admin(self.admin_port(), "GET", "/api/v1/policy", timeout=5)
        except (AdminError, OSError):
            return False
        if cur["version"] != self.version:
            self.resyncs.append((cur["version"], canon(cur["policy"]) != canon(self.doc)))
        self.doc, self.version, self.in_sync = cur["policy"], cur["version"], True
        return True

    def write_one(self):
        op = self.rng.choice(self.ops)
        new = json.loads(json.dumps(self.doc))
        route = new["routes"][0]
        ramp = next(r for r in route["rules"] if r["name"] == "ramp")
        try:
            if op == "split":
                old = ramp["split"]["weights"].get("v2", 0)
                share = self.rng.choice([s for s in (0, 500, 1000, 2500, 5000, 7500, 10000) if s != old])
                weights = {g: (share if g == "v2" else 10000 - share) for g in ramp["split"]["weights"]}
                ramp["split"]["weights"] = weights
                ans = admin(self.admin_port(), "PUT", "/api/v1/routes/web/splits/ramp", {"weights": weights},
                            if_match=self.version)
            elif op == "list":
                beta = set(new["lists"].get("beta", []))
                if beta and self.rng.random() < 0.5:
                    ids = self.rng.sample(sorted(beta), min(len(beta), self.rng.randint(1, 5)))
                    new["lists"]["beta"] = sorted(beta - set(ids))
                    ans = admin(self.admin_port(), "POST", "/api/v1/lists/beta/remove", {"ids": ids},
                                if_match=self.version)
                else:
                    ids = self.rng.sample(self.users, self.rng.randint(1, 5))
                    new["lists"]["beta"] = sorted(beta | set(ids))
                    ans = admin(self.admin_port(), "POST", "/api/v1/lists/beta/add", {"ids": ids},
                                if_match=self.version)
            else:
                heads = ["gray-header", "beta", "gray-users"]
                self.rng.shuffle(heads)
                byname = {r["name"]: r for r in route["rules"]}
                route["rules"] = [byname[n] for n in heads if n in byname] + [ramp]
                byname["gray-header"]["to"] = self.rng.choice(GROUPS)
                share = self.rng.choice((0, 1000, 3000, 5000, 9000, 10000))
                ramp["split"]["salt"] = self.rng.choice(("chaos-a", "chaos-b"))
                ramp["split"]["weights"] = ({"v1": 10000 - share, "v2": share} if self.rng.random() < 0.5
                                            else {"v2": share, "v1": 10000 - share})
                new["lists"]["beta"] = sorted(self.rng.sample(self.users, self.rng.randint(0, 40)))
                ans = admin(self.admin_port(), "PUT", "/api/v1/policy", new, if_match=self.version)
        except AdminError as e:
            self.refused[e.status] += 1
            self.in_sync = False
            return
        except OSError:
            self.no_answer += 1
            self.in_sync = False
            return
        if ans.get("changed", True):
            self.acked.append((ans["version"], canon(new), op, time.monotonic()))
            self.doc, self.version = new, ans["version"]

    def stop(self):
        self.stopping = True
        self.join(timeout=30)


def verify_writes(writer, admin_port):
    """Policy changes lost: acknowledged writes whose version is missing from
    the history, or holds another document than the one written."""
    hist = admin(admin_port, "GET", "/api/v1/policy/history?limit=1000")["versions"]
    in_history = {h["version"] for h in hist}
    oldest = min(in_history) if in_history else 0
    lost = []
    for version, want, op, _ in writer.acked:
        if version >= oldest and version not in in_history:
            lost.append({"version": version, "op": op, "why": "not in /api/v1/policy/history"})
            continue
        try:
            got = admin(admin_port, "GET", f"/api/v1/policy/versions/{version}")
        except AdminError as e:
            lost.append({"version": version, "op": op, "why": f"GET versions/{version}: {e}"})
            continue
        if canon(got["policy"]) != want:
            lost.append({"version": version, "op": op, "why": "the stored document differs from the write"})
    return lost, max(in_history) if in_history else None


def fetch_versions(admin_port, versions):
    docs = {}
    for v in sorted(versions):
        if v < 0:
            continue
        try:
            docs[v] = admin(admin_port, "GET", f"/api/v1/policy/versions/{v}")["policy"]
        except AdminError:
            docs[v] = None
    return docs


def misroutes(counts, docs, lookups, servers_of):
    """Responses whose group differs from what the version they name decides
    for their user (or that came from a server outside that group).
    `servers_of`: upstream name → group. Returns (misrouted count, samples)."""
    bad, samples = 0, []
    memo = {}
    for (target, user, gray, version, group, upstream, status), n in counts.items():
        if status >= 500:
            continue  # counted as failed
        doc = docs.get(version)
        if doc is None:
            why = f"version {version} unknown to the store"
        else:
            k = (version, user, gray)
            if k not in memo:
                memo[k] = decide(doc, user, gray, lookups)
            want, rule = memo[k]
            if group == want and servers_of.get(upstream) == want:
                continue
            why = f"policy v{version} decides {want} (rule {rule}); got group {group!r} from {upstream!r}"
        bad += n
        if len(samples) < 20:
            samples.append({"gateway": target, "user": user, "gray": gray, "version": version, "count": n,
                            "why": why})
    return bad, samples


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]
