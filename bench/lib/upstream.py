#!/usr/bin/env python3
"""One upstream server as its own process, so that it can be killed:
`upstream.py PORT NAME` answers every GET with 200, body `NAME`, and the
header `X-Upstream: NAME` (the chaos and soak benchmarks check which server
really served). 127.0.0.1 only."""

import http.server
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    name = b"?"

    def do_GET(self):
        body = self.name + b"\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Upstream", self.name.decode())
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    port, name = int(sys.argv[1]), sys.argv[2]
    Handler.name = name.encode()
    Server(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
