#!/usr/bin/env bash
# Starts moto's server for the AWS tests and prints the line to export:
#   eval "$(scripts/moto-server.sh start)"   # sets MOTO_ENDPOINT (and MOTO_PID)
#   cargo test -p shared --test integration aws_
#   scripts/moto-server.sh stop
# The tests also start a server of their own when MOTO_ENDPOINT is unset;
# one shared server just saves a second per test binary.
set -euo pipefail
cd "$(dirname "$0")/.."
pidfile=target/moto-server.pid

case "${1:-start}" in
  start)
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import moto.server" 2>/dev/null; then
      echo "moto is not installed: python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt" >&2
      exit 1
    fi
    port="${MOTO_PORT_FOR_TESTS:-$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
    mkdir -p target
    setsid .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$port" >target/moto-server.log 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if .venv/bin/python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
        echo "export MOTO_ENDPOINT=http://127.0.0.1:$port MOTO_PID=$(cat "$pidfile")"
        exit 0
      fi
      sleep 0.1
    done
    echo "moto did not start; see target/moto-server.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      pid="$(cat "$pidfile")"
      # setsid made it a process group of its own: end the group
      kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$pidfile"
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
