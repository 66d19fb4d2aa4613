"""`make invoke` end to end: functions' own binaries invoked through
`cargo lambda watch`'s Runtime API emulation with their `events/`
fixtures, against one moto server, exactly as scripts/invoke.sh runs them
for a developer. An export goes the way the state machine would take it:
api-create answers 202 and starts an execution of the provisioned state
machine, generate writes the report, complete finishes it,
api-get shows it completed with a link that downloads the workbook; then
the scheduled watchdog runs a pass.

    python tests/invoke/invoke_test.py BIN_DIR
"""

import json
import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv/bin/python"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    port = free_port()
    log = open(ROOT / "target/invoke-test-moto.log", "w")
    proc = subprocess.Popen([str(PYTHON), "scripts/moto_server.py", "-H", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto did not start")


def invoke(env, function, export_id=None):
    """What scripts/invoke.sh prints for the function's fixture, parsed."""
    run_env = dict(env, **({"EXPORT_ID": export_id} if export_id else {}))
    done = subprocess.run(["scripts/invoke.sh", function], cwd=ROOT, env=run_env, capture_output=True, text=True,
                          timeout=120)
    log = ROOT / "target/invoke" / f"{function}.log"
    assert done.returncode == 0, f"{function}: rc {done.returncode}\n{done.stderr}\n{log.read_text() if log.exists() else ''}"
    return json.loads(done.stdout)


def main(bin_dir):
    moto, endpoint = start_moto()
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, BIN_DIR=str(Path(bin_dir).resolve()))
    failures = 0
    try:
        created = invoke(env, "api-create")
        assert created["statusCode"] == 202, created
        body = json.loads(created["body"])
        export_id = body["export_id"]
        assert body["status"] == "queued", body
        # API Gateway's request id comes back as the answer's X-Request-Id.
        fixture = json.loads((ROOT / "events/api-create.json").read_text())
        assert created["headers"]["x-request-id"] == fixture["requestContext"]["requestId"], created["headers"]

        # ...and started a real execution of the provisioned state machine.
        local_env = json.loads((ROOT / "events/local-env.json").read_text())["Parameters"]
        sfn = boto3.client("stepfunctions", endpoint_url=endpoint, region_name="eu-north-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        executions = sfn.list_executions(stateMachineArn=local_env["STATE_MACHINE_ARN"])["executions"]
        assert any(export_id in e["name"] for e in executions), executions

        generated = invoke(env, "generate", export_id)
        assert generated == {"export_id": export_id, "attempt": 1, "stopped": False, "submit": False}, generated
        completed = invoke(env, "complete", export_id)
        assert completed["export_id"] == export_id and not completed.get("stopped"), completed

        got = invoke(env, "api-get", export_id)
        assert got["statusCode"] == 200, got
        job = json.loads(got["body"])
        assert job["status"] == "completed" and job["progress"]["rows_done"] > 0, job
        assert job["file_url"].startswith(endpoint), job["file_url"]
        # The function logs as Lambda's JSON log format asks: what the
        # template's metric filters read ($.fields.message), in the
        # runtime's span with the invocation's request id.
        lines = [json.loads(l) for l in (ROOT / "target/invoke/api-get.log").read_text().splitlines() if l.startswith("{")]
        handled = [l for l in lines if l.get("fields", {}).get("message") == "request handled"]
        assert handled and handled[0]["level"] == "INFO", lines
        assert any("requestId" in span for span in handled[0]["spans"]), handled[0]
        with urllib.request.urlopen(job["file_url"]) as answer:
            workbook = answer.read()
        assert workbook[:2] == b"PK" and len(workbook) == job["file"]["size_bytes"], len(workbook)

        swept = invoke(env, "watchdog")
        assert swept["exports"]["failed_stalled"] == 0 and "imports" in swept, swept
        print(f"ok: api-create -> generate -> complete -> api-get ({export_id}), watchdog")
    except AssertionError:
        traceback.print_exc()
        failures += 1
    finally:
        moto.kill()
        moto.wait()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/debug"))
