"""Cold start of Lambda bootstraps, measured without AWS: the time from
spawning a bootstrap to its first `GET /2018-06-01/runtime/invocation/next`
on a fake Runtime API on loopback. That is everything a cold start runs in
the function's own code: loading the binary, reading the configuration,
building the SDK clients and the router.

    python3 scripts/cold_start.py [--runs N] NAME=BOOTSTRAP [NAME=BOOTSTRAP ...]

The bootstraps take turns, run after run, so a busy machine slows them
alike; prints each one's median and 90th percentile in milliseconds, and
its size.
"""

import argparse
import http.server
import os
import socket
import statistics
import subprocess
import threading
import time

# What a function of the stack gets from the template (values are never
# used: nothing is called before the first invocation arrives).
ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "cold-start",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/cold-start",
    "AWS_LAMBDA_LOG_STREAM_NAME": "cold-start",
    "AWS_REGION": "eu-north-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_EC2_METADATA_DISABLED": "true",
    "EXPORTS_TABLE": "exports",
    "ACTIVITIES_TABLE": "activities",
    "IMPORTS_TABLE": "imports",
    "WEBHOOKS_TABLE": "webhooks",
    "AUDIT_TABLE": "audit",
    "FILES_BUCKET": "files",
    "EVENTS_QUEUE_URL": "http://127.0.0.1:1/123456789012/events",
    "IMPORTS_QUEUE_URL": "http://127.0.0.1:1/123456789012/imports",
    "UPLOADS_PREFIX": "uploads/",
    "STATE_MACHINE_ARN": "arn:aws:states:eu-north-1:123456789012:stateMachine:export",
}


class Runtime(http.server.BaseHTTPRequestHandler):
    """Notes when the first `next` arrives and leaves it unanswered."""

    arrived = None

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            Runtime.arrived.set()
        time.sleep(5)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def once(bootstrap):
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Runtime)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Runtime.arrived = threading.Event()
    env = dict(os.environ, **ENV, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}")
    started = time.perf_counter()
    proc = subprocess.Popen([bootstrap], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = Runtime.arrived.wait(30)
    elapsed = (time.perf_counter() - started) * 1000
    proc.kill()
    proc.wait()
    server.shutdown()
    server.server_close()
    if not ok:
        raise SystemExit(f"{bootstrap} never asked for an invocation")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("bootstraps", nargs="+", help="NAME=PATH")
    args = parser.parse_args()
    named = [b.split("=", 1) for b in args.bootstraps]
    times = {name: [] for name, _ in named}
    for _ in range(args.runs):
        for name, path in named:
            times[name].append(once(path))
    for name, path in named:
        t = sorted(times[name])
        p90 = t[int(0.9 * (len(t) - 1))]
        size = os.path.getsize(path) / 2**20
        print(f"{name}: median {statistics.median(t):.1f} ms, p90 {p90:.1f} ms, {size:.1f} MiB, {len(t)} runs")


if __name__ == "__main__":
    main()
