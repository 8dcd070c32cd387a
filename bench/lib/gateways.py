"""Shared by the gateway-level store benchmarks: a throwaway redis-server, a
tiny upstream, and release `graygate serve` processes, all on 127.0.0.1.
Everything started here is stopped by `Stack.close()` (also on Ctrl-C)."""

import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "bench-token"


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure(binary, package):
    os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    if shutil.which(binary):
        return
    log(f"installing {package} from Debian's packages")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env)


def build_graygate(binary=None):
    """The graygate binary: `binary` when given (e.g. CI's `target/debug/graygate`,
    already built), else a release build of this checkout."""
    if binary:
        path = Path(binary).resolve()
        if not path.is_file():
            raise RuntimeError(f"no graygate binary at {path}")
        return path
    log("building graygate (release)")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "graygate"], cwd=ROOT, check=True)
    return ROOT / "target" / "release" / "graygate"


def wait_port(port, proc=None, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class _Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle holds the
    # body until the gateway's delayed ACK, 40 ms per request.
    disable_nagle_algorithm = True

    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Stack:
    """A redis-server, an upstream, and the gateways started with `gateway()`."""

    def __init__(self, binary=None):
        ensure("redis-server", "redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix="graygate-bench-"))
        self.procs = []
        self.redis_port = free_port()
        self.procs.append(subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL))
        wait_port(self.redis_port, self.procs[-1])
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}"
        self.upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        threading.Thread(target=self.upstream.serve_forever, daemon=True).start()
        self.upstream_addr = f"127.0.0.1:{self.upstream.server_address[1]}"
        self.binary = build_graygate(binary)

    def fast_upstream(self, cpus="1"):
        """An nginx answering `200 ok` (installed when missing), for load: the
        Python upstream above serves only a few thousand requests a second.
        Sets and returns `upstream_addr`."""
        ensure("nginx", "nginx-light")
        port = free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(f"""daemon off;
worker_processes 1;
error_log stderr error;
pid {self.dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/body;
    server {{
        listen 127.0.0.1:{port} reuseport;
        keepalive_requests 1000000;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
""")
        self.procs.append(subprocess.Popen(["taskset", "-c", cpus, "nginx", "-p", str(self.dir), "-c", str(conf)],
                                           stderr=subprocess.DEVNULL))
        wait_port(port, self.procs[-1])
        self.upstream_addr = f"127.0.0.1:{port}"
        return self.upstream_addr

    def gateway(self, name, policy, extra="", cpus=None):
        """Starts `graygate serve` on a Redis store; returns (proc, port, admin_port)."""
        port, admin = free_port(), free_port()
        data = self.dir / name
        config = self.dir / f"{name}.toml"
        config.write_text(f"""[gateway]
listen = "127.0.0.1:{port}"
workers = 1
access_log = "off"
decision_headers = true
data_dir = "{data}"

[gateway.admin]
listen = "127.0.0.1:{admin}"
token = "{TOKEN}"

[gateway.store]
kind = "redis"
url = "{self.redis_url}"

{extra}

{policy}
""")
        cmd = [str(self.binary), "serve", "--config", str(config)]
        if cpus:
            cmd = ["taskset", "-c", cpus] + cmd
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.dir / f"{name}.log", "w"),
                                env=dict(os.environ, GRAYGATE_LOG="warn"))
        self.procs.append(proc)
        wait_port(port, proc)
        wait_port(admin, proc)
        return proc, port, admin

    def close(self):
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.upstream.shutdown()
        shutil.rmtree(self.dir, ignore_errors=True)


def admin(port, method, path, body=None):
    """One admin API call; the decoded JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def served_version(conn, user="bench"):
    """The policy version in the decision header of one request on `conn`."""
    conn.request("GET", "/", headers={"X-User-ID": user})
    r = conn.getresponse()
    r.read()
    return int(r.getheader("X-Graygate-Version", "0"))


def connect(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=5)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]
