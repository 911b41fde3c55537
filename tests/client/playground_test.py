#!/usr/bin/env python3
"""The web playground (python3 -m astcd_client.playground) end to end, in headless Chromium.

usage: playground_test.py ASTCD_SERVER ASTCD_CLI ARTIFACT_DIR  (with astcd_client installed)

Starts the real astcd-server on a loopback port and the gateway in front of it, then:

- the gateway alone (urllib): the static files, a body over 1 MiB (413), bad JSON (400), the
  server's refusals as JSON with the gRPC code and the BadRequest field (an illegal token, an
  unknown session, a config out of range), no file outside static/;
- the gateway's own rules, by plain requests on a socket: another site's page may not drive it
  (a Host that is not the gateway's address, 403, for GET and POST; an Origin not its own, 403;
  a POST not application/json, 415); a body nested too deep or with a 5000-digit integer is a
  400 as JSON; a Content-Length of non-ASCII digits is a 400; a connection that stops sending
  is closed within the gateway's 10 s timeout (408); at most 64 connections are served at once
  (the 65th waits until one ends); every status the gateway answers with names a gRPC code; a
  bug in an endpoint is a 500 INTERNAL, a client's refusal of an argument a 400;
- the page, driven by selenium through /usr/bin/chromedriver and /usr/bin/chromium: a FUNCTION
  program built by clicking the token buttons the page shows (a seeded choice, at least 12
  clicks), one Undo that must restore the button set and the source; at the end #status says
  complete and #source equals `astcd detokenize` of the tokens the page reports; the page's
  Run outcomes equal CPython running the page's source on the same arguments; the tokenize box
  shows the error (stage, line, column) Tokenize gives for bad input; a MODULE program started
  by clicks and finished with "sample the rest" matches `astcd detokenize` too;
- the page's sessions are released when it starts over and when it is left (a keepalive fetch
  of JSON), and a page back from the back/forward cache (pagehide, then pageshow persisted)
  starts a new program and takes clicks;
- the page loads nothing but its own origin (performance entries, src/href attributes, and no
  http(s) URL in the static files);
- with the server stopped, the gateway answers 503 UNAVAILABLE as JSON;
- screenshots at 1280x900 and 390x844 (the page must not scroll sideways at 390 px) go to
  ARTIFACT_DIR.

Exits 77 (CTest's skip) with a message when chromium, chromedriver or selenium is missing.
"""
import ast
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))
from server_process import AstcdServer  # noqa: E402

import astcd_client  # noqa: E402
from astcd_client import Client  # noqa: E402

SERVER, CLI, ARTIFACTS = sys.argv[1], sys.argv[2], sys.argv[3]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SKIP = 77
# What the test sets in the page's config panel for its FUNCTION program.
CONFIG = {"arities": [2], "require_return_value": True, "no_dead_code": True}
STATIC = os.path.join(os.path.dirname(astcd_client.__file__), "playground", "static")

failures = []
passed = 0


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def skip_reason():
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (Debian's chromium / chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not importable (Debian's python3-selenium)"
    return None


# -- the gateway process ------------------------------------------------------------------------

class Gateway:
    def __init__(self, server_address):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "astcd_client.playground", "--server", server_address,
             "--host", "127.0.0.1", "--port", "0", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)  # a safety stop only
        line = self.proc.stdout.readline() if ready else ""
        if not re.fullmatch(r"http://127\.0\.0\.1:\d+/\n", line):
            self.stop()
            raise RuntimeError(f"the gateway's first line is {line!r}; stderr: "
                               f"{self.proc.stderr.read()[-2000:]}")
        self.url = line.strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def post(url, body, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def gateway_checks(url, client):
    for name, ctype in (("", "text/html"), ("static/app.js", "text/javascript"),
                        ("static/app.css", "text/css")):
        with urllib.request.urlopen(url + name, timeout=60) as r:
            check(r.status == 200 and r.headers["Content-Type"].startswith(ctype),
                  f"GET /{name}: {r.status} {r.headers['Content-Type']}")
            check("default-src 'none'" in r.headers.get("Content-Security-Policy", ""),
                  f"GET /{name}: no Content-Security-Policy")
    for path in ("static/../gateway.py", "static/%2e%2e/gateway.py", "static/nope.js",
                 "gateway.py"):
        try:
            with urllib.request.urlopen(url + path, timeout=60) as r:
                check(False, f"GET /{path} served {r.status}")
        except urllib.error.HTTPError as e:
            check(e.code == 404, f"GET /{path}: {e.code}")
    status, body = post(url + "api/vocabulary", None, raw=b"x" * ((1 << 20) + 1))
    check(status == 413 and body["error"]["origin"] == "gateway", f"over 1 MiB: {status} {body}")
    status, body = post(url + "api/vocabulary", None, raw=b"{not json")
    check(status == 400 and body["error"]["code"] == "INVALID_ARGUMENT", f"bad JSON: {status}")
    status, body = post(url + "api/nope", {})
    check(status == 404, f"unknown endpoint: {status} {body}")
    # The endpoints are the client's calls: compare with the client itself.
    status, vocab = post(url + "api/vocabulary", {"config": {"arities": [1, 2]}})
    check(status == 200 and vocab == client.vocabulary({"arities": [1, 2]}),
          "vocabulary endpoint == Client.vocabulary")
    status, init = post(url + "api/init_states", {"start": "function"})
    check(status == 200 and init["legal"] == [t["id"] for t in client.vocabulary()["tokens"]
                                              if t["kind"] == "function"],
          f"init_states legal: {init}")
    sid = init["session"]["session_id"]
    # The server's refusals, as JSON with the gRPC code and the BadRequest field.
    status, body = post(url + "api/advance", {"session_id": sid, "token": 1})
    check(status == 400 and body["error"]["code"] == "FAILED_PRECONDITION"
          and body["error"]["origin"] == "server"
          and [v["field"] for v in body["error"]["field_violations"]] == ["token_ids[0]"],
          f"illegal token: {status} {body}")
    status, body = post(url + "api/advance", {"session_id": sid, "token": 9999})
    check(status == 400 and body["error"]["code"] == "INVALID_ARGUMENT"
          and body["error"]["field_violations"][0]["field"] == "token_ids[0]",
          f"token outside the vocabulary: {status} {body}")
    status, body = post(url + "api/init_states", {"config": {"max_expr_depth": 999}})
    check(status == 400 and body["error"]["field_violations"][0]["field"]
          == "config.max_expr_depth", f"config out of range: {status} {body}")
    status, body = post(url + "api/release", {"session_ids": [sid]})
    check(status == 200 and body == {"released": 1}, f"release: {body}")
    status, body = post(url + "api/legal_masks", {"session_id": sid})
    check(status == 404 and body["error"]["code"] == "NOT_FOUND"
          and body["error"]["field_violations"][0]["field"] == "session_ids[0]",
          f"released session: {status} {body}")
    status, body = post(url + "api/run", {"tokens": [3], "start": "function", "inputs": [[1, 2]]})
    check(status == 400 and body["error"]["code"] == "INVALID_ARGUMENT",
          f"run an incomplete program: {status} {body}")
    status, body = post(url + "api/advance", {"session_id": sid})
    check(status == 400 and body["error"]["origin"] == "gateway"
          and body["error"]["field_violations"][0]["field"] == "token",
          f"missing field: {status} {body}")



# -- the gateway's own rules, by plain HTTP on a socket -------------------------------------------

def host_port(url):
    m = re.fullmatch(r"http://([^/:]+):(\d+)/", url)
    return m.group(1), int(m.group(2))


def raw_request(url, method, path, headers=(), body=b"", host="own", length="auto", timeout=15):
    """One request on a fresh connection (Connection: close), read until the gateway closes it.

    headers: "Name: value" strings (latin-1); host "own" sends the gateway's host:port, None no
    Host; length "auto" sends len(body), None none, else that text. Returns (status or None,
    the JSON body or None, seconds until the close, whether it closed within timeout)."""
    addr = host_port(url)
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append("Host: " + (f"{addr[0]}:{addr[1]}" if host == "own" else host))
    lines += ["Connection: close", *headers]
    if length is not None:
        lines.append("Content-Length: " + (str(len(body)) if length == "auto" else length))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    start = time.monotonic()
    reply, closed = b"", False
    with socket.create_connection(addr, timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # the gateway answered and closed before the whole body went: read its answer
        s.settimeout(max(0.1, timeout - (time.monotonic() - start)))
        try:
            while True:
                chunk = s.recv(1 << 16)
                if not chunk:
                    closed = True
                    break
                reply += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
    elapsed = time.monotonic() - start
    head, _, payload = reply.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else None
    try:
        obj = json.loads(payload) if payload else None
    except ValueError:
        obj = None
    return status, obj, elapsed, closed


def json_request(url, endpoint, obj, headers=("Content-Type: application/json",), **kw):
    return raw_request(url, "POST", "/api/" + endpoint, headers,
                       json.dumps(obj).encode(), **kw)


def gateway_error(body, code, what):
    return isinstance(body, dict) and body.get("error", {}).get("code") == code \
        and body["error"].get("origin") == "gateway"


def gateway_rules_checks(url, client):
    host, port = host_port(url)
    own = f"http://{host}:{port}"
    expr = {"start": "expr"}
    # The request a page of another site can send without a preflight: text/plain, its Origin.
    status, body, _, _ = json_request(url, "init_states", expr,
                                      ("Origin: http://evil.example", "Content-Type: text/plain"))
    check(status == 403 and gateway_error(body, "PERMISSION_DENIED", ""),
          f"a cross-origin text/plain POST: {status} {body}")
    status, body, _, _ = json_request(url, "init_states", expr, ("Origin: http://evil.example",
                                                                 "Content-Type: application/json"))
    check(status == 403, f"a cross-origin JSON POST: {status} {body}")
    status, body, _, _ = json_request(url, "init_states", expr, ("Origin: null",
                                                                 "Content-Type: application/json"))
    check(status == 403, f"Origin: null: {status} {body}")
    # DNS rebinding: the attacker's name, resolving here, in the Host.
    for h in ("evil.example", f"evil.example:{port}", f"{host}:{port + 1}", ""):
        status, body, _, _ = json_request(url, "init_states", expr, host=h)
        check(status == 403 and gateway_error(body, "PERMISSION_DENIED", ""),
              f"POST with Host {h!r}: {status} {body}")
        status, body, _, _ = raw_request(url, "GET", "/", host=h, length=None)
        check(status == 403, f"GET / with Host {h!r}: {status}")
    status, body, _, _ = json_request(url, "init_states", expr, host=None)
    check(status == 403, f"POST without a Host: {status} {body}")
    # JSON only.
    for ctype in ("Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded",
                  "Content-Type: multipart/form-data; boundary=x"):
        status, body, _, _ = json_request(url, "init_states", expr, (f"Origin: {own}", ctype))
        check(status == 415 and gateway_error(body, "INVALID_ARGUMENT", ""),
              f"POST with {ctype}: {status} {body}")
    status, body, _, _ = json_request(url, "init_states", expr, ())
    check(status == 415, f"POST without a Content-Type: {status} {body}")
    # What the page itself sends passes, under each name of a loopback address.
    for h in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        origin = "http://" + h.lower()
        status, body, _, _ = json_request(url, "init_states", expr, (
            f"Origin: {origin}", "Content-Type: application/json; charset=utf-8"), host=h)
        check(status == 200 and body["session"]["session_id"],
              f"the page's own POST under {h}: {status} {body}")
        if status == 200:
            client.release([body["session"]["session_id"]])
        status, _, _, _ = raw_request(url, "GET", "/", host=h, length=None)
        check(status == 200, f"GET / with Host {h}: {status}")

    # Bodies the JSON parser cannot take: a 400 as JSON, not an empty reply.
    for what, raw in (("200,000 nested [", b"[" * 200_000),
                      ("200,000 nested {", b'{"a":' * 200_000),
                      ("a 5000-digit integer", b'{"max_len": ' + b"9" * 5000 + b"}")):
        status, body, _, _ = raw_request(url, "POST", "/api/init_states",
                                         ("Content-Type: application/json",), raw)
        check(status == 400 and gateway_error(body, "INVALID_ARGUMENT", ""),
              f"{what}: {status} {body}")
    # Content-Length: digits int() refuses, not a number, none, two that differ.
    for length, want in (("\xb2", 400), ("\xb9", 400), ("-1", 400), ("1e3", 400),
                         (None, 411)):
        status, body, _, _ = raw_request(url, "POST", "/api/vocabulary",
                                         ("Content-Type: application/json",), b"{}",
                                         length=length)
        check(status == want and isinstance(body, dict) and body["error"]["origin"] == "gateway",
              f"Content-Length {length!r}: {status} {body}")
    status, body, _, _ = raw_request(url, "POST", "/api/vocabulary", (
        "Content-Type: application/json", "Content-Length: 2", "Content-Length: 3"), b"{}",
        length=None)
    check(status == 400, f"two Content-Lengths: {status} {body}")

    # A client's refusal of an argument is a 400; the server's codes and the gateway's own
    # statuses come from one table: each status the gateway answers with names a gRPC code.
    status, body, _, _ = json_request(url, "init_states", {"start": "nonsense"})
    check(status == 400 and gateway_error(body, "INVALID_ARGUMENT", ""),
          f"a start the client refuses: {status} {body}")
    from astcd_client.playground import gateway as gw_module
    with open(gw_module.__file__, encoding="utf-8") as f:
        raised = {int(x) for x in re.findall(r"GatewayError\((\d{3})", f.read())}
    check({400, 403, 404, 405, 411, 413, 415, 500, 502} <= raised, f"statuses raised: {raised}")
    for st in sorted(raised):
        code = gw_module.GatewayError(st, "x").body()["error"]["code"]
        check(code != "UNKNOWN", f"GatewayError({st}) reports {code}")


def gateway_bug_checks(client):
    """An endpoint's own bug (a TypeError in the gateway) is a 500 INTERNAL, not a 400."""
    from astcd_client.playground import make_server
    server = make_server(client, "127.0.0.1", 0, quiet=True)

    def buggy(body):
        return {"n": len(None)}  # TypeError, the gateway's own

    server.gateway.endpoints["vocabulary"] = buggy
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, body, _, _ = json_request(server.url, "vocabulary", {})
        check(status == 500 and gateway_error(body, "INTERNAL", ""),
              f"a bug in an endpoint: {status} {body}")
        status, body, _, _ = json_request(server.url, "init_states", {"start": "nonsense"})
        check(status == 400, f"a refused argument in-process: {status} {body}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def gateway_connection_checks(url):
    # A body that stops coming: the connection is closed within the gateway's 10 s timeout.
    status, body, elapsed, closed = raw_request(url, "POST", "/api/vocabulary",
                                                ("Content-Type: application/json",), b"{",
                                                length="100", timeout=15)
    check(closed and elapsed < 15, f"a slow body: closed {closed} after {elapsed:.1f} s")
    check(status == 408 and gateway_error(body, "DEADLINE_EXCEEDED", ""),
          f"a slow body: {status} {body}")
    # A connection that sends nothing is closed too.
    addr = host_port(url)
    start = time.monotonic()
    with socket.create_connection(addr, timeout=15) as s:
        try:
            eof = s.recv(1) == b""
        except (socket.timeout, ConnectionResetError) as e:
            eof = isinstance(e, ConnectionResetError)
    elapsed = time.monotonic() - start
    check(eof and elapsed < 15, f"an idle connection: closed {eof} after {elapsed:.1f} s")
    # At most 64 connections at once: the 65th waits for one of them to end.
    idle = [socket.create_connection(addr, timeout=15) for _ in range(64)]
    try:
        # Each holds its slot: a request on it is still answered.
        idle[0].sendall(f"GET /static/app.css HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\n\r\n"
                        .encode())
        check(idle[0].recv(12).startswith(b"HTTP/1.1 200"), "a request on a held connection")
        extra = socket.create_connection(addr, timeout=15)
        extra.sendall(f"GET / HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\nConnection: close\r\n\r\n"
                      .encode())
        ready, _, _ = select.select([extra], [], [], 2)
        check(not ready, "the 65th connection is served while 64 are open")
        idle.pop().close()
        ready, _, _ = select.select([extra], [], [], 15)  # a safety stop
        check(ready and extra.recv(12).startswith(b"HTTP/1.1 200"),
              "the 65th connection is served once one ends")
        extra.close()
    finally:
        for s in idle:
            s.close()


# -- the page -------------------------------------------------------------------------------------

def make_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--disable-sync", "--metrics-recording-only"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_idle(driver, timeout=60):
    """Until the page's action queue is empty (body[data-busy="false"])."""
    deadline = time.monotonic() + timeout  # a safety stop, not a timing check
    while time.monotonic() < deadline:
        if driver.execute_script("return document.body.dataset.busy") == "false":
            return
        time.sleep(0.02)
    raise RuntimeError("the page stayed busy; error box: "
                       + driver.execute_script("return document.getElementById('error')"
                                               ".textContent"))


def by_id(driver, element_id):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, element_id)


def page_state(driver):
    return driver.execute_script("""
        const src = document.getElementById('source');
        return {
          source: src.textContent,
          tokens: JSON.parse(src.dataset.tokens),
          buttons: Array.from(document.querySelectorAll('#legal button[data-token-id]'))
                        .map(b => [Number(b.dataset.tokenId), b.dataset.tokenName,
                                   b.dataset.kind, b.className]),
          status: document.getElementById('status').textContent,
          error: document.getElementById('error').hidden ? ''
                 : document.getElementById('error').textContent,
        };""")


def click_token(driver, token_id):
    from selenium.webdriver.common.by import By
    driver.find_element(By.CSS_SELECTOR, f'#legal button[data-token-id="{token_id}"]').click()
    wait_idle(driver)


def set_value(driver, element_id, value):
    el = by_id(driver, element_id)
    el.clear()
    if value:
        el.send_keys(value)


def choose_option(driver, element_id, value):
    from selenium.webdriver.support.ui import Select
    Select(by_id(driver, element_id)).select_by_value(value)
    wait_idle(driver)


def cli_detokenize(tokens, start, config=None):
    flags = ["--config", json.dumps(config)] if config else []
    p = subprocess.run([CLI, "detokenize", "--start", start, *flags], input=json.dumps(
        {"tokens": tokens}) + "\n", capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"astcd detokenize: {p.returncode} {p.stderr}")
    return json.loads(p.stdout)["source"]


def cpython_outcome(source, args):
    ns = {}
    exec(compile(source, "<playground>", "exec"), ns)
    fn = [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)][-1]
    try:
        return "ok", ns[fn](*args)
    except ZeroDivisionError:
        return "zero_division", None


def build_function(driver, vocab):
    """Clicks a FUNCTION program to completion: seeded choices among the buttons shown."""
    rng = random.Random(int(os.environ.get("PLAYGROUND_SEED", "15")))
    choose_option(driver, "start", "function")
    # The config panel: two parameters, and a program that returns a value without dead code.
    set_value(driver, "max-len", "40")
    set_value(driver, "cfg-arities", "2")
    from selenium.webdriver.common.by import By
    driver.find_element(By.CSS_SELECTOR, "#config-panel details summary").click()
    for field in ("require_return_value", "no_dead_code"):
        driver.find_element(By.CSS_SELECTOR, f'input[data-field="{field}"]').click()
    by_id(driver, "apply").click()
    wait_idle(driver)
    st = page_state(driver)
    check(st["tokens"] == [] and st["source"] == "<def>\n", f"a fresh FUNCTION page: {st}")
    check(json.loads(by_id(driver, "config-json").text) == CONFIG,
          f"the page's config: {by_id(driver, 'config-json').text}")
    check([b[1] for b in st["buttons"]] == ["def/2"], f"arities [2]: {st['buttons']}")
    kinds = {t["id"]: t["kind"] for t in vocab["tokens"]}
    check(all(kinds[i] == k and f"kind-{k}" in cls for i, _, k, cls in st["buttons"]),
          f"button kinds are the vocabulary's: {st['buttons']}")
    clicks, undone = 0, False
    while True:  # until <eos> (or, a failure, no buttons)
        check(not st["error"], f"the page shows an error: {st['error']}")
        ids = [b[0] for b in st["buttons"]]
        if not ids:
            break
        names = {b[0]: b[1] for b in st["buttons"]}
        # Grow for the first dozen clicks, then prefer what ends the program.
        early = [i for i in ids if names[i] not in ("end", "<eos>")]
        if clicks < 12 and early:
            choice = rng.choice(early)
        else:
            enders = [i for i in ids if names[i] in ("<eos>", "end")] or \
                     [i for i in ids if kinds[i] in ("variable", "constant")] or ids
            choice = rng.choice(enders)
        if clicks == 5 and not undone:
            before = st
            click_token(driver, choice)
            after = page_state(driver)
            check(after["tokens"] == before["tokens"] + [choice], "a click takes the token")
            by_id(driver, "undo").click()
            wait_idle(driver)
            st = page_state(driver)
            check(st["buttons"] == before["buttons"] and st["tokens"] == before["tokens"]
                  and st["source"] == before["source"],
                  f"Undo restores the buttons and the source: {before} / {st}")
            undone = True
            continue
        if names[choice] == "<eos>":
            check(st["status"] == "complete", f"<eos> offered before complete: {st}")
        click_token(driver, choice)
        clicks += 1
        st = page_state(driver)
        if names[choice] == "<eos>":
            break
    check(undone, "Undo was used")
    check(clicks >= 10, f"only {clicks} clicks")
    check(st["status"] == "complete", f"#status at the end: {st['status']!r}")
    # After <eos> the mask holds only <pad> (docs/api.md, Sessions); the page shows the mask.
    check([b[0] for b in st["buttons"]] == [vocab["pad_id"]],
          f"after <eos> only <pad>: {st['buttons']}")
    return st, clicks


def page_checks(driver, url, client):
    from selenium.webdriver.common.by import By
    vocab = client.vocabulary(CONFIG)
    driver.get(url)
    wait_idle(driver)
    # The config panel lists DecodeConfig's fields by hand: it must list exactly the proto's.
    panel = {e.get_attribute("data-field")
             for e in driver.find_elements(By.CSS_SELECTOR, "#config-panel [data-field]")}
    proto = {f.name for f in client.protocol.pb2.DecodeConfig.DESCRIPTOR.fields}
    check(panel == proto, f"config panel fields {sorted(panel ^ proto)} differ from DecodeConfig's")
    st, clicks = build_function(driver, vocab)
    want = cli_detokenize(st["tokens"], "function", CONFIG)
    check(st["source"] == want, f"#source {st['source']!r} != astcd detokenize {want!r}")
    print(f"FUNCTION program by {clicks} clicks, {len(st['tokens'])} tokens:\n{st['source']}",
          flush=True)

    # Run it in the page; CPython runs the page's source on the same arguments.
    tree = ast.parse(st["source"])
    arity = len(tree.body[-1].args.args)
    rng = random.Random(4)
    inputs = [[rng.randint(-9, 9) for _ in range(arity)] for _ in range(5)]
    set_value(driver, "run-args", "\n".join(",".join(map(str, a)) for a in inputs))
    by_id(driver, "run").click()
    wait_idle(driver)
    raw = by_id(driver, "run-outcome").get_attribute("data-outcomes")
    check(raw, f"no outcomes: {by_id(driver, 'run-outcome').text}")
    outcomes = json.loads(raw or "[]")
    check(len(outcomes) == len(inputs), f"{len(outcomes)} outcomes for {len(inputs)} inputs")
    for args, o in zip(inputs, outcomes):
        status, value = cpython_outcome(st["source"], args)
        check(o["status"] == status and o["value"] == value
              and type(o["value"]) is type(value),
              f"run {args}: page {o} != CPython {status} {value!r}")
    text = by_id(driver, "run-outcome").text
    check(all("(" + ", ".join(map(str, a)) + ")" in text for a in inputs),
          f"the outcomes name their arguments: {text}")
    check(by_id(driver, "run-trace").text.startswith("trace of"), "a run shows its trace")

    # Tokenize: bad input shows the error Tokenize gives, with its line and column.
    bad = "def func(a, b):\n    c = a +\n    return c\n"
    set_value(driver, "tokenize-input", bad)
    by_id(driver, "tokenize").click()
    wait_idle(driver)
    res = by_id(driver, "tokenize-result")
    [want] = client.tokenize([bad], start="function", config=CONFIG)
    err = want["error"]
    check(res.get_attribute("data-ok") == "false" and
          res.get_attribute("data-line") == str(err["line"]) and
          res.get_attribute("data-column") == str(err["column"]) and
          res.get_attribute("data-stage") == err["stage"],
          f"tokenize error attributes vs {err}")
    check(f"line {err['line']}, column {err['column']}" in res.text and err["stage"] in res.text,
          f"tokenize error text {res.text!r} vs {err}")
    good = "def func(a, b):\n    c = a + b\n    return c\n"
    set_value(driver, "tokenize-input", good)
    by_id(driver, "tokenize").click()
    wait_idle(driver)
    [want] = client.tokenize([good], start="function", config=CONFIG)
    check(res.get_attribute("data-ok") == "true"
          and json.loads(res.get_attribute("data-tokens")) == want["tokens"],
          f"tokenize ok: {res.text}")

    shot(driver, 1280, 900, "playground-1280x900.png")

    # MODULE: a few clicks, then "sample the rest" (weighted, seeded).
    choose_option(driver, "start", "module")
    set_value(driver, "max-len", "")
    set_value(driver, "cfg-arities", "")
    for field in CONFIG:
        box = driver.find_element(By.CSS_SELECTOR, f'input[data-field="{field}"]')
        if box.get_attribute("type") == "checkbox" and box.is_selected():
            box.click()
    by_id(driver, "apply").click()
    wait_idle(driver)
    rng = random.Random(2)
    for _ in range(4):
        st = page_state(driver)
        click_token(driver, rng.choice([b[0] for b in st["buttons"]
                                        if b[1] not in ("end", "<eos>")]))
    before = page_state(driver)
    choose_option(driver, "sampler", "weighted")
    set_value(driver, "seed", "7")
    by_id(driver, "sample").click()
    wait_idle(driver)
    st = page_state(driver)
    check(not st["error"], f"sample the rest: {st['error']}")
    check(st["tokens"][:4] == before["tokens"] and len(st["tokens"]) > 4,
          f"sampled from the clicked prefix: {before['tokens']} -> {st['tokens']}")
    check(st["status"] == "complete", f"#status after sampling: {st['status']}")
    want = cli_detokenize(st["tokens"], "module")
    check(st["source"] == want, f"module #source {st['source']!r} != {want!r}")
    # Undo after sampling continues from the sampled session.
    by_id(driver, "undo").click()
    wait_idle(driver)
    after = page_state(driver)
    check(after["tokens"] == st["tokens"][:-1] and after["buttons"],
          f"Undo after sampling: {after['tokens']} {after['buttons']}")

    # Sessions: starting over releases the old one, and so does leaving the page.
    sid = by_id(driver, "status").get_attribute("data-session-id")
    check(post(url + "api/legal_masks", {"session_id": sid})[0] == 200, "the page's session")
    by_id(driver, "new").click()
    wait_idle(driver)
    new_sid = by_id(driver, "status").get_attribute("data-session-id")
    check(new_sid and new_sid != sid, f"a new session: {sid} -> {new_sid}")
    check(released(url, sid), "New program releases the old session")

    # Back from the back/forward cache: pagehide released the session (a keepalive fetch of
    # JSON), pageshow (persisted) starts a new program, and a click works.
    sid = new_sid
    driver.execute_script(
        "window.dispatchEvent(new PageTransitionEvent('pagehide', {persisted: true}));"
        "window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}));")
    wait_idle(driver)
    check(released(url, sid), "pagehide releases the session")
    st = page_state(driver)
    new_sid = by_id(driver, "status").get_attribute("data-session-id")
    check(new_sid and new_sid != sid and not st["error"] and st["tokens"] == [] and st["buttons"],
          f"pageshow from the cache starts a new program: {sid} -> {new_sid} {st}")
    if st["buttons"]:
        click_token(driver, st["buttons"][0][0])
        after = page_state(driver)
        check(not after["error"] and after["tokens"] == [st["buttons"][0][0]],
              f"a click after the page is back: {after}")

    # Nothing but the page's own origin.
    origin = url.rstrip("/")
    entries = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat(performance.getEntriesByType('navigation').map(e => e.name))")
    check(entries and all(e.startswith(origin + "/") for e in entries),
          f"resources from elsewhere: {[e for e in entries if not e.startswith(origin)]}")
    refs = driver.execute_script(
        "return Array.from(document.querySelectorAll('[src],[href]'))"
        ".map(e => e.getAttribute('src') || e.getAttribute('href'))")
    check(all(r.startswith("/") and not r.startswith("//") for r in refs), f"refs: {refs}")
    for name in sorted(os.listdir(STATIC)):
        with open(os.path.join(STATIC, name), encoding="utf-8") as f:
            text = f.read()
        urls = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", text)
        check(not urls, f"static/{name} names URLs: {urls}")

    # A phone.
    shot(driver, 390, 844, "playground-390x844.png")
    widths = driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]")
    check(widths[0] <= widths[1], f"the page scrolls sideways at 390 px: {widths}")
    legal = driver.execute_script(
        "const r = document.getElementById('legal').getBoundingClientRect();"
        "return [r.left, r.right, window.innerWidth]")
    check(legal[0] >= 0 and legal[1] <= legal[2], f"#legal fits the phone: {legal}")

    sid = by_id(driver, "status").get_attribute("data-session-id")
    driver.get("about:blank")
    check(released(url, sid), "leaving the page releases its session")


def released(url, sid, timeout=30):
    """Whether the gateway answers NOT_FOUND for the session (within a safety timeout: a
    beacon is sent after the page is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = post(url + "api/legal_masks", {"session_id": sid})
        if status == 404:
            return body["error"]["code"] == "NOT_FOUND"
        time.sleep(0.05)
    return False


def shot(driver, width, height, name):
    driver.set_window_size(width, height)
    # The viewport, not the window: new headless makes them equal; check rather than assume.
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if inner != [width, height]:
        driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])
    driver.execute_script("document.activeElement && document.activeElement.blur();"
                          "window.scrollTo(0, 0)")
    time.sleep(0.2)  # let the layout settle before the picture; not a correctness wait
    path = os.path.join(ARTIFACTS, name)
    check(driver.save_screenshot(path), f"screenshot {path}")
    from PIL import Image
    with Image.open(path) as im:
        check(im.size == (width, height), f"{name}: {im.size}")
    print("screenshot:", path, flush=True)


def main():
    reason = skip_reason()
    if reason:
        print(f"SKIP: {reason}")
        sys.exit(SKIP)
    os.makedirs(ARTIFACTS, exist_ok=True)
    with AstcdServer(SERVER) as server, Client(server.address) as client:
        gw = Gateway(server.address)
        try:
            gateway_checks(gw.url, client)
            gateway_rules_checks(gw.url, client)
            gateway_bug_checks(client)
            gateway_connection_checks(gw.url)
            driver = make_driver()
            try:
                page_checks(driver, gw.url, client)
            finally:
                driver.quit()
            # The server gone: UNAVAILABLE, as JSON, from the gateway that is still up.
            server.stop()
            status, body = post(gw.url + "api/init_states", {"start": "expr"})
            check(status == 503 and body["error"]["code"] == "UNAVAILABLE"
                  and body["error"]["origin"] == "server", f"server down: {status} {body}")
        finally:
            gw.stop()
    print(f"{passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
