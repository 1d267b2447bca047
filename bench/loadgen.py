"""A small closed-loop load generator (Python stdlib only) for the workloads oha cannot
drive: W5, refresh-token rotation (every refresh token is good once, so each virtual user
follows its own chain), and W6, the authorization-code flow with PKCE (login, consent,
exchange) per virtual user. One thread per virtual user, one keep-alive connection each,
127.0.0.1 only, bounded by a duration.

Python threads share one interpreter lock and this generator shares the 2 CPUs with the
server, so its ceiling is low: bench.py also runs `floor-py` (GET /healthz with this
generator) to show that ceiling next to W5 and W6.
"""

import base64
import hashlib
import html
import http.client
import json
import os
import re
import threading
import time
import urllib.parse

HOST = "127.0.0.1"


def request(port, method, path, body=None, headers=None, timeout=30):
    """One request on a fresh connection: (status, headers as a lower-cased dict, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


class Client:
    """One persistent connection; reconnects after an error."""

    def __init__(self, port):
        self.port, self.conn = port, None

    def req(self, method, path, body=None, headers=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        except Exception:
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def percentile(sorted_values, fraction):
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def run(port, worker_factory, users, seconds, states=None):
    """Runs `users` threads for `seconds`. worker_factory(client, state) returns a step
    function; each step returns (ok, requests_made). Latency is per step."""
    states = states or [None] * users
    latencies, counters, lock = [], {"ok": 0, "bad": 0, "errors": 0, "requests": 0}, threading.Lock()
    error_kinds = {}
    start = time.perf_counter()
    deadline = start + seconds
    ends = []

    def thread_main(state):
        client = Client(port)
        step = worker_factory(client, state)
        mine, ok, bad, errors, requests = [], 0, 0, 0, 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                good, made = step()
            except Exception as error:  # counted, the virtual user goes on
                errors += 1
                kind = type(error).__name__
                with lock:
                    error_kinds[kind] = error_kinds.get(kind, 0) + 1
                continue
            mine.append(time.perf_counter() - t0)
            requests += made
            if good:
                ok += 1
            else:
                bad += 1
        client.close()
        with lock:
            latencies.extend(mine)
            counters["ok"] += ok
            counters["bad"] += bad
            counters["errors"] += errors
            counters["requests"] += requests
            ends.append(time.perf_counter())

    threads = [threading.Thread(target=thread_main, args=(states[i],), daemon=True) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    elapsed = (max(ends) if ends else time.perf_counter()) - start
    latencies.sort()
    steps = counters["ok"] + counters["bad"]
    return {
        "rps": steps / elapsed if elapsed else 0.0,
        "ok_rps": counters["ok"] / elapsed if elapsed else 0.0,
        "http_requests_per_s": counters["requests"] / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "responses": steps,
        "non_2xx": counters["bad"],
        "errors": counters["errors"],
        "error_kinds": error_kinds,
        "seconds": elapsed,
    }


# ---------------------------------------------------------------- floor-py


def healthz_worker(client, _state):
    def step():
        status, _, _ = client.req("GET", "/healthz")
        return status == 200, 1
    return step


# ---------------------------------------------------------------- W5: refresh rotation

FORM = "application/x-www-form-urlencoded"


def _password_pair(client, auth, username, password):
    status, _, body = client.req("POST", "/o/token/", urllib.parse.urlencode(
        {"grant_type": "password", "username": username, "password": password, "scope": "read"}),
        {"Authorization": auth, "Content-Type": FORM})
    if status != 200:
        raise RuntimeError(f"password grant answered {status}: {body[:200]!r}")
    return json.loads(body)["refresh_token"]


def refresh_worker(auth, username, password):
    """(setup, worker_factory) for W5: each virtual user starts from its own password grant."""

    def setup(port, users):
        out = [None] * users

        def get(i):
            out[i] = {"refresh": _password_pair(Client(port), auth, username, password)}

        threads = [threading.Thread(target=get, args=(i,)) for i in range(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if any(s is None for s in out):
            raise RuntimeError("could not get a refresh token for every virtual user")
        return out

    def factory(client, state):
        headers = {"Authorization": auth, "Content-Type": FORM}

        def step():
            status, _, body = client.req("POST", "/o/token/", urllib.parse.urlencode(
                {"grant_type": "refresh_token", "refresh_token": state["refresh"]}), headers)
            if status == 200:
                data = json.loads(body)
                new = data.get("refresh_token")
                if new and new != state["refresh"] and data.get("access_token"):
                    state["refresh"] = new
                    return True, 1
            # The chain is broken (or the answer was wrong): start a new one, uncounted.
            state["refresh"] = _password_pair(client, auth, username, password)
            return False, 1
        return step

    return setup, factory


def check_refresh(port, auth, username, password, check, token_request, check_introspection, client_id):
    """One rotation: a new access token for the right user, and a new refresh token."""
    first = token_request(port, auth, grant_type="password", username=username, password=password, scope="read")
    check(first.get("refresh_token"), f"password grant gave no refresh token: {first}")
    second = token_request(port, auth, grant_type="refresh_token", refresh_token=first["refresh_token"])
    check(second.get("refresh_token") and second["refresh_token"] != first["refresh_token"],
          f"refresh did not rotate: {second}")
    check_introspection(port, "/o/introspect/", auth, second["access_token"], client_id, username)


# ---------------------------------------------------------------- W6: authorization code + PKCE

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _cookie(headers, current):
    value = headers.get("set-cookie")
    if not value:
        return current
    pair = value.split(";", 1)[0]
    return pair if pair.split("=", 1)[1] else None


def _hidden_fields(body):
    return [(name, html.unescape(value)) for name, value in _HIDDEN.findall(body.decode("utf-8", "replace"))]


class AuthCodeFlow:
    """One flow = a new browser: authorize (redirected to login), login page, login,
    consent page, consent (Authorize), code exchange with the PKCE verifier."""

    def __init__(self, client_id, auth, redirect_uri, username, password):
        self.client_id, self.auth, self.redirect_uri = client_id, auth, redirect_uri
        self.username, self.password = username, password

    def flow(self, client):
        def expect(status, want, what, body=b""):
            if status != want:
                raise FlowError(f"{what}: {status} (wanted {want}) {body[:200]!r}")

        verifier = _b64(os.urandom(32))
        challenge = _b64(hashlib.sha256(verifier.encode()).digest())
        state = _b64(os.urandom(12))
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
            "scope": "read", "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
        authorize = f"/o/authorize/?{query}"
        status, headers, body = client.req("GET", authorize)
        expect(status, 302, "authorize without a session", body)
        login_url = headers["location"]
        status, headers, body = client.req("GET", login_url)
        expect(status, 200, "login page", body)
        cookie = _cookie(headers, None)
        fields = dict(_hidden_fields(body))
        fields.update(username=self.username, password=self.password)
        status, headers, body = client.req("POST", "/accounts/login/", urllib.parse.urlencode(fields), {
            "Content-Type": FORM, **({"Cookie": cookie} if cookie else {})})
        expect(status, 303, "login", body)
        cookie = _cookie(headers, cookie)
        nxt = headers["location"]
        status, headers, body = client.req("GET", nxt, None, {"Cookie": cookie})
        expect(status, 200, "consent page", body)
        # The page's logout form repeats csrf_token; OAuth parameters must not repeat.
        fields = list(dict(_hidden_fields(body)).items())
        fields.append(("allow", "Authorize"))
        status, headers, body = client.req("POST", "/o/authorize/", urllib.parse.urlencode(fields), {
            "Content-Type": FORM, "Cookie": cookie})
        expect(status, 303, "consent", body)
        back = urllib.parse.urlsplit(headers["location"])
        params = dict(urllib.parse.parse_qsl(back.query))
        if f"{back.scheme}://{back.netloc}{back.path}" != self.redirect_uri or params.get("state") != state:
            raise FlowError(f"consent redirected to {headers['location']!r}")
        if "code" not in params:
            raise FlowError(f"no code in {headers['location']!r}")
        status, headers, body = client.req("POST", "/o/token/", urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": params["code"], "redirect_uri": self.redirect_uri,
            "code_verifier": verifier}), {"Authorization": self.auth, "Content-Type": FORM})
        expect(status, 200, "code exchange", body)
        return json.loads(body)

    def run_once(self, port):
        client = Client(port)
        try:
            return self.flow(client)
        except FlowError as error:
            raise RuntimeError(f"W6 flow failed: {error}")
        finally:
            client.close()

    def worker(self, client, _state):
        def step():
            try:
                token = self.flow(client)
            except FlowError:
                return False, 6
            return bool(token.get("access_token")), 6
        return step


class FlowError(Exception):
    pass
