# Sourced by the bench scripts: starts a throwaway redis-server on a free
# loopback port (no persistence) and stops it on exit. Sets REDIS_URL.
command -v redis-server >/dev/null 2>&1 || {
  echo "redis-server is required (apt-get install -y redis-server)" >&2
  exit 1
}
REDIS_DIR=$(mktemp -d)
REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$REDIS_DIR" >/dev/null &
REDIS_PID=$!
trap 'kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; rm -rf "$REDIS_DIR"' EXIT
for _ in $(seq 100); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.05
done
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
