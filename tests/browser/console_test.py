"""The console in a real headless Chromium, against the real local server.

Starts `bufdir-exports serve --demo` on a free port with a fresh data
directory (org-demo seeded with enough activities that an export runs for
a few seconds), then drives the console as a grant officer would: signs in,
makes a report and watches its progress bar move, downloads it and opens
it as a workbook, cancels, retries a failed one, deletes, gets the API's
validation message next to the field, never sees another organisation's
report, does it all by keyboard, checks what will count, imports a
template, and has axe-core find no serious or critical violation.

    python tests/browser/console_test.py BIN [--screenshots DIR]
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import urllib.request
from pathlib import Path

import openpyxl
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules/axe-core/axe.min.js"
CSV_TEMPLATE = ROOT / "shared/core/templates/activities.csv"
LONG = 150_000  # org-demo's activities last year: an export of them runs for seconds
YEAR = time.gmtime().tm_year - 1  # the console's first period preset


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium found (Debian: apt-get install chromium)")


class Server:
    def __init__(self, binary, data, *flags):
        self.binary, self.data = binary, data
        self.proc = subprocess.Popen(
            [binary, "serve", *(flags or ["--demo"]), "--addr", "127.0.0.1:0", "--data-dir", data],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in self.proc.stdout:
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        else:
            sys.exit("the server did not start")

    def cli(self, *args):
        return subprocess.run([self.binary, *args, "--data-dir", self.data], check=True,
                              capture_output=True, text=True).stdout.strip()

    def call(self, method, path, token, body=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


class Provider:
    """A stand-in for the organisation's identity provider (none runs here):
    discovery, an authorization endpoint that signs the user straight in,
    and a token endpoint that checks the code, the redirect URI, the client
    and the PKCE verifier against the challenge, and answers with a token
    the server accepts."""

    def __init__(self, client_id, id_token):
        self.client_id, self.id_token, self.codes, self.exchanged = client_id, id_token, {}, []
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def answer(self, status, body=None, headers=()):
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")
                for k, v in headers:
                    self.send_header(k, v)
                data = json.dumps(body).encode() if body is not None else b""
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path, _, query = self.path.partition("?")
                q = dict(urllib.parse.parse_qsl(query))
                if path == "/.well-known/openid-configuration":
                    return self.answer(200, {"issuer": provider.url, "authorization_endpoint": provider.url + "/authorize",
                                             "token_endpoint": provider.url + "/token"})
                if path == "/authorize":
                    ok = (q.get("response_type") == "code" and q.get("client_id") == provider.client_id
                          and q.get("code_challenge_method") == "S256" and "openid" in q.get("scope", "").split())
                    if not ok:
                        return self.answer(400, {"error": "invalid_request"})
                    code = base64.urlsafe_b64encode(os.urandom(12)).decode()
                    provider.codes[code] = (q["code_challenge"], q["redirect_uri"])
                    back = f"{q['redirect_uri']}?{urllib.parse.urlencode({'code': code, 'state': q['state']})}"
                    return self.answer(302, None, [("Location", back)])
                self.answer(404, {})

            def do_POST(self):
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                challenge, redirect = provider.codes.pop(form.get("code"), (None, None))
                verifier = form.get("code_verifier", "")
                expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
                ok = (challenge is not None and challenge == expected and form.get("redirect_uri") == redirect
                      and form.get("client_id") == provider.client_id and form.get("grant_type") == "authorization_code")
                provider.exchanged.append(ok)
                if not ok:
                    return self.answer(400, {"error": "invalid_grant"})
                self.answer(200, {"id_token": provider.id_token, "access_token": "opaque", "token_type": "Bearer"})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def sign_in(page, url):
    page.goto(url + "/")
    page.get_by_role("button", name="Logg inn som demo-organisasjonen").click()
    expect(page.locator("#create-export")).to_be_visible()


def rows(page):
    """The list's rows, once it has loaded."""
    expect(page.locator('#exports[data-loaded="true"]')).to_have_count(1)
    return page.locator("#exports tbody tr")


def row_of(page, export_id):
    return page.locator(f'#exports tbody tr[data-export-id="{export_id}"]')


def create(page, fmt="excel"):
    """Makes a report of last year from the form; returns its id."""
    before = set(rows(page).evaluate_all("rs => rs.map(r => r.dataset.exportId)"))
    page.select_option("#format", fmt)
    page.click("#create-submit")
    deadline = time.time() + 20
    while time.time() < deadline:
        now = set(rows(page).evaluate_all("rs => rs.map(r => r.dataset.exportId)"))
        if now - before:
            return (now - before).pop()
        time.sleep(0.1)
    raise AssertionError("no new row appeared")


def wait_status(page, export_id, status, timeout=120):
    expect(row_of(page, export_id)).to_have_attribute("data-status", status, timeout=timeout * 1000)


def test_language_switch(page, server, **_):
    page.goto(server.url + "/")
    assert page.evaluate("document.documentElement.lang") == "nb"
    page.click("#lang")
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.get_by_role("button", name="Sign in as the demo organisation")).to_be_visible()
    page.click("#lang")
    assert page.evaluate("document.documentElement.lang") == "nb"


def test_create_watch_download_and_open(page, server, shots, **_):
    sign_in(page, server.url)
    export_id = create(page)
    bar = row_of(page, export_id).locator("progress")
    seen = set()
    deadline = time.time() + 180
    while time.time() < deadline:
        status = row_of(page, export_id).get_attribute("data-status")
        if status == "running" and bar.count():
            seen.add((bar.get_attribute("value"), bar.get_attribute("max")))
            if len(seen) == 2 and shots:
                page.screenshot(path=f"{shots}/console-progress.png", full_page=True)
        if status == "completed":
            break
        time.sleep(0.1)
    wait_status(page, export_id, "completed")
    moving = [int(v) for v, m in seen if 0 < int(v) < int(m)]
    assert len(seen) >= 2 and moving, f"the progress bar did not move: {seen}"
    if shots:
        page.screenshot(path=f"{shots}/console-exports.png", full_page=True)
    with page.expect_download() as info:
        row_of(page, export_id).locator('[data-action="download"]').click()
    assert info.value.suggested_filename.endswith(".xlsx"), info.value.suggested_filename
    path = Path(tempfile.mkdtemp()) / info.value.suggested_filename
    info.value.save_as(path)
    book = openpyxl.load_workbook(path, read_only=True)
    assert len(book.sheetnames) >= 2, book.sheetnames
    assert any(ws.max_row > 1 for ws in book.worksheets)


def test_cancel_a_running_one(page, server, **_):
    sign_in(page, server.url)
    export_id = create(page)
    row = row_of(page, export_id)
    row.locator('[data-action="cancel"]').click()
    page.fill("#cancel-reason", "feil periode")
    page.click("#cancel-dialog-confirm")
    wait_status(page, export_id, "cancelled", 30)
    token = page.evaluate("sessionStorage.getItem('token')")
    status, job = server.call("GET", f"/api/v1/bufdir-exports/{export_id}", token)
    assert status == 200 and job["cancel_reason"] == "feil periode", job


def test_retry_a_failed_one_and_delete(page, server, **_):
    sign_in(page, server.url)
    token = page.evaluate("sessionStorage.getItem('token')")
    key = f"org-demo/att-{YEAR}0304-consol/oppmote.pdf"
    activity = {
        "activity_id": "console-with-list", "org_id": "org-demo", "activity_type": "group_session",
        "title": "Samtalegruppe", "date": f"{YEAR}-03-04", "duration_minutes": 90, "mode": "in_person",
        "kommunenummer": "0301", "in_norway": True,
        "participants": {"total": 3, "new": 1, "by_gender": {"female": 2, "male": 1, "other": 0, "unknown": 0},
                         "by_age": {"0-5": 0, "6-12": 0, "13-17": 0, "18-24": 1, "25-66": 2, "67+": 0, "unknown": 0}},
        "volunteers": {"count": 1, "hours": 2.0}, "led_by_peer": True,
        "attachments": [{"name": "Oppmøteliste.pdf", "content_type": "application/pdf", "key": key}],
    }
    status, body = server.call("PUT", "/api/v1/activities", token, {"activities": [activity]})
    assert status == 200, body
    page.select_option("#preset", f"q1_{YEAR}")
    page.check("#include_attachments")
    export_id = create(page, "json")
    wait_status(page, export_id, "failed")
    failure = row_of(page, export_id).locator(".failure")
    expect(failure).to_contain_text("Et vedlegg som en aktivitet viser til, finnes ikke")
    # the missing file arrives; a retry now completes
    path = Path(server.data, "attachments", key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4 attendance list")
    row_of(page, export_id).locator('[data-action="retry"]').click()
    wait_status(page, export_id, "completed")
    server.call("DELETE", "/api/v1/activities/console-with-list?org_id=org-demo", token)

    row_of(page, export_id).locator('[data-action="delete"]').click()
    expect(page.locator("#delete-dialog")).to_be_visible()
    page.click("#delete-dialog-confirm")
    expect(row_of(page, export_id)).to_have_count(0, timeout=10_000)
    assert server.call("GET", f"/api/v1/bufdir-exports/{export_id}", token)[0] == 404


def test_invalid_period_shows_the_api_message_by_the_field(page, server, **_):
    sign_in(page, server.url)
    page.select_option("#preset", "custom")
    page.fill("#period_from", "2025-12-31")
    page.fill("#period_to", "2025-01-01")
    before = rows(page).count()
    page.click("#create-submit")
    errors = page.locator(".field-error:not([hidden])")
    expect(errors.first).to_be_visible(timeout=10_000)
    shown = errors.first
    field_id = shown.get_attribute("id").removesuffix("-error")
    assert field_id in ("period_from", "period_to"), field_id
    token = page.evaluate("sessionStorage.getItem('token')")
    _, problem = server.call("POST", "/api/v1/bufdir-exports", token, {
        "org_id": "org-demo", "format": "excel", "period_from": "2025-12-31", "period_to": "2025-01-01"})
    messages = [e["message"] for e in problem["errors"] if e["field"] == field_id]
    expect(shown).to_have_text(" ".join(messages))
    assert page.get_attribute(f"#{field_id}", "aria-invalid") == "true"
    assert field_id in page.get_attribute(f"#{field_id}", "aria-describedby")
    assert page.evaluate("document.activeElement.id") == field_id
    assert rows(page).count() == before


def test_another_organisations_report_never_appears(page, server, **_):
    other = server.cli("token", "--org", "org-other")
    status, made = server.call("POST", "/api/v1/bufdir-exports", other, {
        "org_id": "org-other", "format": "csv", "period_from": "2025-01-01", "period_to": "2025-12-31"})
    assert status == 202, made
    sign_in(page, server.url)
    page.wait_for_timeout(1500)
    ids = rows(page).evaluate_all("rs => rs.map(r => r.dataset.exportId)")
    assert made["export_id"] not in ids, ids
    assert "org-other" not in page.inner_text("#exports")


def test_keyboard_only_create(page, server, **_):
    sign_in(page, server.url)
    page.evaluate("document.activeElement.blur()")
    before = rows(page).count()
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "format":
            break
    else:
        raise AssertionError("the format field cannot be reached by Tab")
    page.keyboard.press("ArrowDown")  # csv
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "create-submit":
            break
    else:
        raise AssertionError("the create button cannot be reached by Tab")
    page.keyboard.press("Enter")
    expect(rows(page)).to_have_count(before + 1, timeout=20_000)
    visible = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert visible != "none" or page.evaluate("document.activeElement === document.body"), visible


def test_what_will_count(page, server, shots, **_):
    sign_in(page, server.url)
    page.click('nav a[href="#count"]')
    page.select_option("#count_preset", f"q1_{YEAR}")
    page.click("#count-form button[type=submit]")
    expect(page.locator("#count-summary")).to_be_visible(timeout=60_000)
    assert re.search(r"\d+ aktiviteter teller\. \d+ teller ikke\.", page.inner_text("#count-summary"))
    assert page.locator("#count-result section[data-reason]").count() >= 1
    if shots:
        page.screenshot(path=f"{shots}/console-what-will-count.png")


def test_imports(page, server, shots, **_):
    sign_in(page, server.url)
    page.click('nav a[href="#imports"]')
    for name in ("activities.xlsx", "activities.csv"):
        with page.expect_download() as info:
            page.get_by_role("button", name=name).click()
        assert info.value.suggested_filename == name
        saved = Path(tempfile.mkdtemp()) / name
        info.value.save_as(saved)
        if name.endswith(".xlsx"):
            assert "Aktiviteter" in " ".join(openpyxl.load_workbook(saved, read_only=True).sheetnames)
        else:
            assert saved.read_text(encoding="utf-8-sig").startswith("aktivitet_id;")
    page.set_input_files("#import_file", str(CSV_TEMPLATE))
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-result")).to_have_attribute("data-status", "completed", timeout=60_000)
    bad = Path(tempfile.mkdtemp()) / "bad.csv"
    lines = CSV_TEMPLATE.read_text(encoding="utf-8-sig").splitlines()
    wrong_date = re.sub(r";2025-(\d\d-\d\d);", r";1999-\1;", lines[1], count=1)
    assert wrong_date != lines[1]
    bad.write_text("\n".join([lines[0], wrong_date.replace("akt-", "bad-", 1)] + lines[1:]) + "\n", encoding="utf-8")
    page.set_input_files("#import_file", str(bad))
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-result")).to_have_attribute("data-status", "failed", timeout=60_000)
    cells = page.locator("#import-errors tbody tr td:first-child").all_inner_texts()
    assert cells and all(c.strip().isdigit() for c in cells), cells
    if shots:
        page.screenshot(path=f"{shots}/console-import-errors.png", full_page=True)


def test_sign_in_through_the_identity_provider(page, server, **_):
    provider = Provider("bufdir-console", None)
    data = tempfile.mkdtemp(prefix="console-oidc-")
    oidc = Server(server.binary, data, "--console-oidc-issuer", provider.url, "--console-oidc-client-id", "bufdir-console")
    try:
        # signed with this server's key, as the organisation's provider would sign with its own
        provider.id_token = oidc.cli("token", "--org", "org-demo", "--subject", "kari.nordmann")
        page.goto(oidc.url + "/")
        page.click("#oidc-sign-in")
        expect(page.locator("#who")).to_contain_text("kari.nordmann", timeout=20_000)
        assert provider.exchanged == [True], provider.exchanged
        assert page.url.rstrip("/") == oidc.url, page.url  # no code left in the address
        expect(page.locator("#create-export")).to_be_visible()
        # a return that does not carry the state it was sent with is refused
        page.click("#sign-out")
        page.goto(oidc.url + "/?code=forged&state=nope")
        expect(page.locator(".notice")).to_have_text("Innloggingen mislyktes. Prøv igjen.")
        assert provider.exchanged == [True]
    finally:
        oidc.stop()
        provider.stop()
        shutil.rmtree(data, ignore_errors=True)


def test_accessibility(page, server, **_):
    axe = AXE.read_text()

    def scan(label):
        page.add_script_tag(content=axe)
        result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})""")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, f"{label}: {bad}"

    page.goto(server.url + "/")
    page.wait_for_selector("#demo-sign-in")
    scan("sign in")
    sign_in(page, server.url)
    page.wait_for_selector("#exports tbody tr")
    scan("reports")
    page.click('nav a[href="#count"]')
    page.wait_for_selector("#count-form")
    scan("what will count")
    page.click('nav a[href="#imports"]')
    page.wait_for_selector("#import-form")
    scan("imports")
    page.click("#lang")
    scan("reports in English")


TESTS = [
    test_language_switch,
    test_create_watch_download_and_open,
    test_cancel_a_running_one,
    test_retry_a_failed_one_and_delete,
    test_invalid_period_shows_the_api_message_by_the_field,
    test_another_organisations_report_never_appears,
    test_keyboard_only_create,
    test_what_will_count,
    test_imports,
    test_sign_in_through_the_identity_provider,
    test_accessibility,
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--screenshots")
    parser.add_argument("-k", help="run only tests whose name contains this")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="console-test-")
    subprocess.run([args.binary, "activities", "seed", "--org", "org-demo", "--count", str(LONG), "--year", str(YEAR),
                    "--data-dir", data], check=True, capture_output=True)
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    server = Server(args.binary, data)
    failed = 0
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
            for test in TESTS:
                if args.k and args.k not in test.__name__:
                    continue
                # axe is injected as a script, which the console's CSP rightly forbids.
                context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900},
                                              locale="nb-NO", bypass_csp=test is test_accessibility)
                page = context.new_page()
                started = time.time()
                try:
                    test(page=page, server=server, shots=args.screenshots)
                    print(f"ok   {test.__name__} ({time.time() - started:.1f} s)")
                except Exception:
                    failed += 1
                    print(f"FAIL {test.__name__}")
                    traceback.print_exc()
                finally:
                    context.close()
            browser.close()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    print(f"{len(TESTS) - failed} passed, {failed} failed" if not args.k else f"{failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
