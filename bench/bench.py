#!/usr/bin/env python3
"""Portcullis benchmark harness (issue 4). Run through bench/run, which builds the
release binary and installs the pinned oha first; see README.md, "Benchmarks".

Starts Portcullis on a fresh SQLite database (and on BENCH_DATABASE_URL when set), seeds
a user and applications through the CLI and tokens through the token endpoint, checks one
response of every workload for correctness, then drives each workload: floor, W1-W4 with
oha, W5 and W6 with the stdlib generator in loadgen.py. Optionally does the same against
the peers in /work/shared/peers (BENCH_PEERS=1) and seeds many stored tokens
(BENCH_STORED_TOKENS=N). Prints one table and writes target/bench/bench-<time>.json.

Only 127.0.0.1 is ever contacted. Every server runs in its own process group, recorded in
$BENCH_WORK/pgids so that bench/run's trap can kill it even if this script dies.
"""

import base64
import datetime
import json
import os
import platform
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
from loadgen import HOST, request  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


SECONDS = env_int("BENCH_SECONDS", 15)
CONNECTIONS = env_int("BENCH_CONNECTIONS", 32)
COLD_RUNS = env_int("BENCH_COLD_RUNS", 5)
STORED_TOKENS = env_int("BENCH_STORED_TOKENS", 0)
PEERS = os.environ.get("BENCH_PEERS", "0") == "1"
PEERS_DIR = os.environ.get("BENCH_PEERS_DIR", os.path.join(os.path.dirname(ROOT), "shared", "peers"))
PG_URL = os.environ.get("BENCH_DATABASE_URL", "")
KEEPALIVE = os.environ.get("BENCH_KEEPALIVE", "both")  # both | on | off
ONLY = {w.strip() for w in os.environ.get("BENCH_ONLY", "").split(",") if w.strip()}
WORK = os.environ.get("BENCH_WORK") or os.path.abspath("target/bench/work")
OHA = os.environ.get("BENCH_OHA", "oha")
BINARY = os.environ.get("BENCH_BINARY", os.path.join(ROOT, "target", "release", "portcullis"))
# Another build of Portcullis (an earlier commit, say) run on SQLite in the same run, so
# that what a change bought is a ratio measured side by side.
BASELINE = os.environ.get("BENCH_BASELINE_BINARY", "")

PASSWORD = "bench-password-123"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the generator reads Location


class BenchError(Exception):
    pass


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def modes():
    return {"both": ["keep-alive", "close"], "on": ["keep-alive"], "off": ["close"]}[KEEPALIVE]


def wanted(workload):
    return not ONLY or workload in ONLY


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def basic(client_id, secret):
    # RFC 6749 §2.3.1: each part form-urlencoded before base64.
    raw = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def form(**fields):
    return urllib.parse.urlencode(fields)


# ---------------------------------------------------------------- processes and memory


def proc_tree(root):
    """root and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    """User plus system CPU time a process (all its threads) has used."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


class Server:
    """A server process in its own process group, stopped with SIGTERM then SIGKILL."""

    def __init__(self, name, cmd, port, ready_path, env=None, cwd=None, tree=False):
        self.name, self.cmd, self.port, self.ready_path = name, cmd, port, ready_path
        self.env, self.cwd, self.tree = env, cwd, tree
        self.proc = None
        self.log_path = os.path.join(WORK, f"{name}.log")
        self._pids, self._pids_at = [], 0.0

    def start(self, timeout=60.0):
        """Starts and waits for the first 200 on ready_path; returns seconds taken."""
        log_file = open(self.log_path, "ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, cwd=self.cwd, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log_file.close()
        with open(os.path.join(WORK, "pgids"), "a") as f:
            f.write(f"{self.proc.pid}\n")
        deadline = started + timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n"
                                 + self.log_tail())
            try:
                status, _, _ = request(self.port, "GET", self.ready_path, timeout=2)
                if status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise BenchError(f"{self.name} gave no 200 on {self.ready_path} within {timeout:.0f} s")
            time.sleep(0.001)

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def rss_kib(self):
        if not self.proc or self.proc.poll() is not None:
            return 0
        if not self.tree:
            return rss_kib(self.proc.pid)
        now = time.monotonic()
        if now - self._pids_at > 1.0:
            self._pids, self._pids_at = proc_tree(self.proc.pid), now
        return sum(rss_kib(p) for p in self._pids)

    def cpu_seconds(self):
        """CPU time used so far by the server (and, for a tree, the processes now in it)."""
        if not self.proc or self.proc.poll() is not None:
            return 0.0
        return sum(cpu_seconds(p) for p in (proc_tree(self.proc.pid) if self.tree else [self.proc.pid]))

    def processes(self):
        return len(proc_tree(self.proc.pid)) if self.tree else 1

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


STARTED = []


def stop_all():
    for server in reversed(STARTED):
        try:
            server.stop()
        except Exception as error:  # keep stopping the others
            log(f"stopping {server.name}: {error}")


class PeakRss:
    """Samples a server's RSS every 20 ms while a workload runs."""

    def __init__(self, server):
        self.server, self.peak, self._stop = server, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss_kib())
            self._stop.wait(0.02)

    def __enter__(self):
        self.before = self.server.rss_kib()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.server.rss_kib())


# ---------------------------------------------------------------- load drivers


def run_oha(server, path, method="GET", headers=None, body=None, keepalive=True, seconds=None):
    seconds = seconds or SECONDS
    cmd = [OHA, "-z", f"{seconds}s", "-c", str(CONNECTIONS), "--no-tui", "--output-format", "json",
           "-m", method]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if body is not None:
        cmd += ["-d", body]
    if not keepalive:
        cmd.append("--disable-keepalive")
    cmd.append(f"http://{HOST}:{server.port}{path}")
    # CPU time per answer, of the server and of the load generator: on a 2-core machine
    # the two share the cores, so a rate alone cannot say which side a change moved.
    server_cpu, generator_cpu = server.cpu_seconds(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with PeakRss(server) as peak:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    server_cpu = server.cpu_seconds() - server_cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    generator_cpu = (after.ru_utime + after.ru_stime) - (generator_cpu.ru_utime + generator_cpu.ru_stime)
    if out.returncode != 0:
        raise BenchError(f"oha failed ({out.returncode}): {out.stderr.strip()[:500]}")
    data = json.loads(out.stdout)
    summary = data["summary"]
    statuses = {int(k): v for k, v in (data.get("statusCodeDistribution") or {}).items()}
    responses = sum(statuses.values())
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    error_kinds = data.get("errorDistribution") or {}
    # Requests still in flight when the duration ends are cancelled by oha: not errors.
    aborted = error_kinds.get("aborted due to deadline", 0)
    errors = sum(error_kinds.values()) - aborted
    pct = data.get("latencyPercentiles") or {}
    duration = summary.get("total") or seconds
    return {
        "generator": "oha",
        # oha's own requestsPerSec counts the cancelled requests too; this counts answers.
        "rps": responses / duration if duration else 0.0,
        "oha_requests_per_sec": summary.get("requestsPerSec"),
        "aborted_at_deadline": aborted,
        "ok_rps": ok / duration if duration else 0.0,
        "p50_ms": (pct.get("p50") or 0) * 1000,
        "p99_ms": (pct.get("p99") or 0) * 1000,
        "responses": responses,
        "non_2xx": responses - ok,
        "errors": errors,
        "error_kinds": error_kinds,
        "status_codes": statuses,
        "seconds": duration,
        "peak_rss_kib": peak.peak,
        "rss_before_kib": peak.before,
        "server_cpu_us_per_req": server_cpu * 1e6 / responses if responses else None,
        "generator_cpu_us_per_req": generator_cpu * 1e6 / responses if responses else None,
    }


def run_py(server, worker_factory, setup=None, seconds=None, unit="req"):
    seconds = seconds or SECONDS
    # Per-virtual-user setup (W5's password grants) runs before, outside the RSS window.
    states = setup(server.port, CONNECTIONS) if setup else None
    with PeakRss(server) as peak:
        result = loadgen.run(server.port, worker_factory, CONNECTIONS, seconds, states=states)
    result.update(generator="python", peak_rss_kib=peak.peak, rss_before_kib=peak.before, unit=unit)
    return result


def argon2_alone(seconds=None):
    """Runs the argon2_rate example (built by bench/run beside the binary)."""
    seconds = seconds or SECONDS
    example = os.path.join(os.path.dirname(BINARY), "examples", "argon2_rate")
    if not os.path.exists(example):
        log(f"{example} is missing: no Argon2 yardstick for W2 (bench/run builds it)")
        return None
    out = subprocess.run([example, str(seconds)], capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"argon2_rate failed: {out.stderr.strip()[:300]}")
    data = json.loads(out.stdout)
    return {"generator": "argon2_rate", "rps": data["verifications_per_sec"], "p50_ms": 0.0, "p99_ms": 0.0,
            "responses": 0, "non_2xx": 0, "errors": 0, "peak_rss_kib": 0, "threads": data["threads"],
            "seconds": data["seconds"]}


# ---------------------------------------------------------------- correctness checks


def check(condition, message):
    if not condition:
        raise BenchError("correctness check failed: " + message)


def token_request(port, auth, **fields):
    status, headers, body = request(port, "POST", "/o/token/", form(**fields), {
        "Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
    check(status == 200, f"token endpoint ({fields.get('grant_type')}) answered {status}: {body[:300]!r}")
    data = json.loads(body)
    check(isinstance(data.get("access_token"), str) and len(data["access_token"]) >= 20,
          f"no real access token in {data}")
    check(data.get("token_type", "").lower() == "bearer", f"token_type is not Bearer in {data}")
    return data


def check_introspection(port, path, auth, token, client_id=None, username=None):
    status, _, body = request(port, "POST", path, form(token=token), {
        "Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
    check(status == 200, f"introspection answered {status}: {body[:300]!r}")
    data = json.loads(body)
    check(data.get("active") is True, f"introspection did not say active: {data}")
    if client_id is not None:
        check(data.get("client_id") == client_id, f"introspection client_id {data.get('client_id')!r} != {client_id!r}")
    if username is not None:
        check(data.get("username") == username, f"introspection username {data.get('username')!r} != {username!r}")
    return data


def check_me(port, token, username):
    status, _, body = request(port, "GET", "/api/me/", None, {"Authorization": f"Bearer {token}"})
    check(status == 200, f"/api/me/ answered {status}: {body[:300]!r}")
    data = json.loads(body)
    check(data.get("username") == username, f"/api/me/ username {data.get('username')!r} != {username!r}")


# ---------------------------------------------------------------- Portcullis


def cli(db_url, *args, stdin=None, binary=None):
    out = subprocess.run([binary or BINARY, "--database-url", db_url, *args], input=stdin, capture_output=True,
                         text=True, cwd=WORK, timeout=120)
    if out.returncode != 0:
        raise BenchError(f"portcullis {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def seed_portcullis(db_url, tag, binary):
    """A user and three confidential applications, through the CLI."""
    username = f"bench{tag}"
    cli(db_url, "user", "create", "--username", username, "--email", f"{username}@example.com",
        "--password-stdin", stdin=PASSWORD + "\n", binary=binary)

    def app(name, *grant_args):
        data = json.loads(cli(db_url, "app", "create", "--name", f"{name}{tag}", "--client-type", "confidential",
                              *grant_args, "--json", binary=binary))
        check(data.get("client_id") and data.get("client_secret"), f"app create printed {data}")
        return data["client_id"], data["client_secret"]

    return {
        "username": username,
        "cc": app("bench-cc", "--grant-type", "client-credentials"),
        "pw": app("bench-pw", "--grant-type", "password"),
        "ac": app("bench-ac", "--grant-type", "authorization-code", "--redirect-uri", REDIRECT_URI),
    }


def portcullis_server(db_url, port, name, binary):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_") and k != "DATABASE_URL"}
    # Each workload is one client as fast as it can go. The per-client rate limit stays
    # on, so its cost is measured, but far above any rate these machines reach.
    env["PORTCULLIS_LIMITS_TOKEN_REQUESTS_PER_SECOND"] = "100000000"
    env["PORTCULLIS_LIMITS_TOKEN_REQUEST_BURST"] = "100000000"
    return Server(name, [binary, "--database-url", db_url, "serve", "--bind", f"{HOST}:{port}"], port,
                  "/healthz", env=env, cwd=WORK)


def count_tokens(db_path):
    if not db_path:
        return None
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as db:
        return db.execute("SELECT COUNT(*) FROM access_tokens").fetchone()[0]


def seed_stored_tokens(db_path, count, application_id, user_id):
    """Bulk-inserts `count` valid access tokens (SHA-256 of a random value each) in one
    transaction, as filler for the lookup index."""
    started = time.perf_counter()
    now = int(time.time())
    db = sqlite3.connect(db_path, timeout=60)
    try:
        db.execute("PRAGMA cache_size = -2000000")  # 2 GB page cache: keeps the indexes in memory
        db.execute("PRAGMA synchronous = OFF")
        import hashlib
        salt = os.urandom(16)

        def rows():
            for i in range(count):
                digest = hashlib.sha256(salt + i.to_bytes(8, "little")).digest()
                yield (digest, application_id, user_id if i % 2 else None, "read", now, now + 36000)

        # The secondary indexes are dropped and rebuilt with their own SQL (a sorted build
        # is much faster than ten million random updates); the UNIQUE index on
        # token_hash, the one validation uses, is filled row by row.
        indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                             " AND tbl_name = 'access_tokens' AND sql IS NOT NULL").fetchall()
        with db:
            for name, _ in indexes:
                db.execute(f'DROP INDEX "{name}"')
            db.executemany("INSERT INTO access_tokens (token_hash, application_id, user_id, scope, created_at,"
                           " expires_at) VALUES (?, ?, ?, ?, ?, ?)", rows())
            for _, sql in indexes:
                db.execute(sql)
        # Move it all from the WAL into the database file, as a long-running server would have.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return time.perf_counter() - started


def sqlite_ids(db_path, username, client_id):
    with sqlite3.connect(db_path) as db:
        user_id = db.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()[0]
        app_id = db.execute("SELECT id FROM applications WHERE client_id = ?", (client_id,)).fetchone()[0]
    return user_id, app_id


def run_portcullis(label, db_url, db_path, results, tag, binary=BINARY):
    log(f"[{label}] seeding through the CLI ({db_url}) with {binary}")
    migrate_started = time.perf_counter()
    cli(db_url, "migrate", binary=binary)
    migrate_seconds = time.perf_counter() - migrate_started
    seed = seed_portcullis(db_url, tag, binary)
    user = seed["username"]
    (cc_id, cc_secret), (pw_id, pw_secret), (ac_id, ac_secret) = seed["cc"], seed["pw"], seed["ac"]
    cc_auth, pw_auth, ac_auth = basic(cc_id, cc_secret), basic(pw_id, pw_secret), basic(ac_id, ac_secret)

    # The very first start on a database also makes its OpenID Connect signing keys
    # (RSA key generation, a fraction of a second, once): timed and reported apart.
    first = portcullis_server(db_url, free_port(), f"{label}-first", binary)
    STARTED.append(first)
    first_start_ms = first.start() * 1000
    first.stop()
    log(f"[{label}] first start (makes the signing keys): {first_start_ms:.1f} ms")

    # Cold start: process start to the first 200 on /healthz, on the now-existing database.
    cold = []
    for i in range(COLD_RUNS):
        server = portcullis_server(db_url, free_port(), f"{label}-cold{i}", binary)
        STARTED.append(server)
        cold.append(server.start() * 1000)
        server.stop()
    results["cold_start_ms"] = {"runs": [round(c, 1) for c in cold], "median": round(statistics.median(cold), 1),
                                "min": round(min(cold), 1), "max": round(max(cold), 1),
                                "migrate_fresh_db_s": round(migrate_seconds, 3),
                                "first_start_ms": round(first_start_ms, 1)}
    log(f"[{label}] cold start to first 200: {', '.join(f'{c:.1f}' for c in cold)} ms")

    server = portcullis_server(db_url, free_port(), label, binary)
    STARTED.append(server)
    server.start()
    time.sleep(1.0)
    results["idle_rss_kib_start"] = server.rss_kib()
    port = server.port
    runs = results["workloads"]

    # Tokens for W3 and W4, through the token endpoint.
    pw_token = token_request(port, pw_auth, grant_type="password", username=user, password=PASSWORD, scope="read")
    cc_token = token_request(port, cc_auth, grant_type="client_credentials")
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}

    def record(workload, mode, result, note=""):
        result.update(workload=workload, mode=mode, note=note, stored_tokens=count_tokens(db_path))
        runs.append(result)
        log(f"[{label}] {workload} {mode}: {result['rps']:.0f}/s p50 {result['p50_ms']:.2f} ms "
            f"p99 {result['p99_ms']:.2f} ms non-2xx {result['non_2xx']} errors {result.get('errors', 0)}")

    def w3_w4(note=""):
        if wanted("W3"):
            check_me(port, pw_token["access_token"], user)
            for mode in modes():
                record("W3", mode, run_oha(server, "/api/me/", headers={
                    "Authorization": f"Bearer {pw_token['access_token']}"}, keepalive=mode == "keep-alive"), note)
        if wanted("W4"):
            check_introspection(port, "/o/introspect/", cc_auth, pw_token["access_token"], pw_id, user)
            for mode in modes():
                record("W4", mode, run_oha(server, "/o/introspect/", "POST", {"Authorization": cc_auth, **form_type},
                                           form(token=pw_token["access_token"]), keepalive=mode == "keep-alive"),
                       note)

    # floor, then the reads (few stored tokens yet), then the writes.
    if wanted("floor"):
        status, _, body = request(port, "GET", "/healthz")
        check(status == 200 and body.strip() == b"ok", f"/healthz answered {status} {body!r}")
        for mode in modes():
            record("floor", mode, run_oha(server, "/healthz", keepalive=mode == "keep-alive"))
        record("floor-py", "keep-alive", run_py(server, loadgen.healthz_worker),
               "the Python generator's own ceiling, for W5 and W6")
    w3_w4()
    if wanted("W1"):
        body = form(grant_type="client_credentials")
        data = token_request(port, cc_auth, grant_type="client_credentials")
        check_introspection(port, "/o/introspect/", cc_auth, data["access_token"], cc_id)
        for mode in modes():
            record("W1", mode, run_oha(server, "/o/token/", "POST", {"Authorization": cc_auth, **form_type}, body,
                                       keepalive=mode == "keep-alive"))
    if wanted("W2"):
        # The yardstick for W2: the same Argon2id verification alone, on every core, with
        # no HTTP, no load generator and the server idle.
        alone = argon2_alone()
        if alone:
            record("argon2-alone", "-", alone, "password::verify on every core, nothing else running")
        fields = dict(grant_type="password", username=user, password=PASSWORD, scope="read")
        data = token_request(port, pw_auth, **fields)
        check_me(port, data["access_token"], user)
        for mode in modes():
            record("W2", mode, run_oha(server, "/o/token/", "POST", {"Authorization": pw_auth, **form_type},
                                       form(**fields), keepalive=mode == "keep-alive"))
    if wanted("W5"):
        loadgen.check_refresh(port, pw_auth, user, PASSWORD, check, token_request, check_introspection, pw_id)
        setup, worker = loadgen.refresh_worker(pw_auth, user, PASSWORD)
        record("W5", "keep-alive", run_py(server, worker, setup=setup),
               "refresh-token rotation; Python generator, each virtual user follows its own chain")
    if wanted("W6"):
        flow = loadgen.AuthCodeFlow(ac_id, ac_auth, REDIRECT_URI, user, PASSWORD)
        token = flow.run_once(port)
        check(token.get("access_token") and token.get("refresh_token"), f"code exchange gave {token}")
        check_me(port, token["access_token"], user)
        record("W6", "keep-alive", run_py(server, flow.worker, unit="flow"),
               "flows/s; each flow = 6 requests (authorize, login page, login, consent page, consent, exchange)")

    # The ratios to the floor, again, from pairs of short runs back to back: the floor's
    # own rate drifts by 20% or more over the minutes the pass above takes.
    pair_rounds = env_int("BENCH_PAIR_ROUNDS", 3)
    if pair_rounds and wanted("floor"):
        seconds = max(3, SECONDS // pair_rounds)
        requests = {
            "W3": ("/api/me/", "GET", {"Authorization": f"Bearer {pw_token['access_token']}"}, None),
            "W4": ("/o/introspect/", "POST", {"Authorization": cc_auth, **form_type}, form(token=pw_token["access_token"])),
            "W1": ("/o/token/", "POST", {"Authorization": cc_auth, **form_type}, form(grant_type="client_credentials")),
        }
        pairs = results.setdefault("paired_ratios", {})
        for workload, (path, method, headers, body) in requests.items():
            if not wanted(workload):
                continue
            for mode in modes():
                keepalive = mode == "keep-alive"
                ratios_here = []
                for _ in range(pair_rounds):
                    floor_run = run_oha(server, "/healthz", keepalive=keepalive, seconds=seconds)
                    run = run_oha(server, path, method, headers, body, keepalive=keepalive, seconds=seconds)
                    ratios_here.append(run["rps"] / floor_run["rps"] if floor_run["rps"] else 0.0)
                pairs[f"{workload} {mode}"] = {"ratios": [round(r, 3) for r in ratios_here],
                                               "median": round(statistics.median(ratios_here), 3)}
                log(f"[{label}] {workload} / floor ({mode}), paired runs: {pairs[f'{workload} {mode}']}")

    time.sleep(2.0)
    results["idle_rss_kib_after"] = server.rss_kib()
    results["stored_tokens_after_load"] = count_tokens(db_path)

    if STORED_TOKENS and db_path and (wanted("W3") or wanted("W4")):
        server.stop()
        stored_tokens_comparison(label, db_url, db_path, results, tag, binary, user, pw_id, pw_token, cc_auth)
    server.stop()


def stored_tokens_comparison(label, db_url, db_path, results, tag, binary, user, pw_id, pw_token, cc_auth):
    """W3 and W4 on a database with few tokens and on this one after seeding
    STORED_TOKENS more, on two servers running side by side, in alternating short runs
    (ROUNDS of them, medians reported): the machine's drift over minutes is as large as
    the difference sought, so the two must be measured in the same minutes."""
    rounds = env_int("BENCH_STORED_ROUNDS", 3)
    seconds = max(3, SECONDS // rounds)
    small_path = os.path.join(WORK, f"{label}-small.db")
    small_url = f"sqlite://{small_path}"
    cli(small_url, "migrate", binary=binary)
    small_seed = seed_portcullis(small_url, tag, binary)
    user_id, app_id = sqlite_ids(db_path, user, pw_id)
    log(f"[{label}] seeding {STORED_TOKENS:,} stored tokens into {db_path} (one transaction)")
    took = seed_stored_tokens(db_path, STORED_TOKENS, app_id, user_id)
    results["stored_tokens_seed_seconds"] = round(took, 1)
    log(f"[{label}] seeding took {took:.1f} s")
    big = portcullis_server(db_url, free_port(), f"{label}-stored", binary)
    STARTED.append(big)
    results["cold_start_ms_large_db"] = round(big.start() * 1000, 1)
    small = portcullis_server(small_url, free_port(), f"{label}-small", binary)
    STARTED.append(small)
    small.start()
    (s_cc_id, s_cc_secret), (s_pw_id, s_pw_secret) = small_seed["cc"], small_seed["pw"]
    s_cc_auth = basic(s_cc_id, s_cc_secret)
    s_token = token_request(small.port, basic(s_pw_id, s_pw_secret), grant_type="password",
                            username=small_seed["username"], password=PASSWORD, scope="read")["access_token"]
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    sides = {
        "small": (small, s_token, s_cc_auth, small_seed["username"], s_pw_id, small_path),
        "stored": (big, pw_token["access_token"], cc_auth, user, pw_id, db_path),
    }
    for side, (srv, token, auth, name, client, _) in sides.items():
        check_me(srv.port, token, name)
        check_introspection(srv.port, "/o/introspect/", auth, token, client, name)
    counts = {side: count_tokens(path) for side, (*_, path) in sides.items()}
    log(f"[{label}] access tokens stored: {counts['small']:,} (small) and {counts['stored']:,}; "
        f"{rounds} alternating rounds of {seconds} s")
    samples = {}
    for round_no in range(rounds):
        order = ["small", "stored"] if round_no % 2 == 0 else ["stored", "small"]
        for workload in [w for w in ("W3", "W4") if wanted(w)]:
            for mode in modes():
                for side in order:
                    srv, token, auth, *_ = sides[side]
                    if workload == "W3":
                        run = run_oha(srv, "/api/me/", headers={"Authorization": f"Bearer {token}"},
                                      keepalive=mode == "keep-alive", seconds=seconds)
                    else:
                        run = run_oha(srv, "/o/introspect/", "POST", {"Authorization": auth, **form_type},
                                      form(token=token), keepalive=mode == "keep-alive", seconds=seconds)
                    samples.setdefault((workload, mode, side), []).append(run)
    for (workload, mode, side), runs in samples.items():
        middle = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
        result = dict(middle, rounds=[round(r["rps"], 1) for r in runs])
        note = (f"interleaved, {counts['small']:,} stored tokens" if side == "small"
                else f"interleaved, after seeding {STORED_TOKENS:,} stored tokens")
        result.update(workload=workload, mode=mode, note=note, stored_tokens=counts[side])
        results["workloads"].append(result)
        log(f"[{label}] {workload} {mode} {side}: median {result['rps']:.0f}/s of {result['rounds']}")
    small.stop()
    big.stop()


# ---------------------------------------------------------------- peers


def read_env(path):
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                key, value = line.rstrip("\n").split("=", 1)
                out[key] = value
    return out


def run_peer_script(script, label):
    log(f"[{label}] {script}")
    out = subprocess.run(["bash", script], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise BenchError(f"{script} failed: {out.stderr.strip()[-800:]}")


def peer_record(label, runs, server):
    def record(workload, mode, result, note=""):
        result.update(workload=workload, mode=mode, note=note)
        runs.append(result)
        log(f"[{label}] {workload} {mode} {note}: {result['rps']:.1f}/s p50 {result['p50_ms']:.1f} ms "
            f"p99 {result['p99_ms']:.1f} ms non-2xx {result['non_2xx']} errors {result.get('errors', 0)}")
    return record


def run_dot(results):
    label = "django-oauth-toolkit"
    home = os.path.join(os.environ.get("PEERS_HOME", os.path.expanduser("~/.cache/portcullis-peers")), "dot")
    run_peer_script(os.path.join(PEERS_DIR, "dot", "setup.sh"), label)
    creds = read_env(os.path.join(home, "creds.env"))
    server = Server("dot", ["bash", os.path.join(PEERS_DIR, "dot", "start.sh"), str(free_port())], 0,
                    "/admin/login/", tree=True)
    server.port = int(server.cmd[-1])
    STARTED.append(server)
    results["cold_start_ms"] = {"runs": [round(server.start(120) * 1000, 1)]}
    time.sleep(3.0)
    results["idle_rss_kib_start"] = server.rss_kib()
    results["processes"] = server.processes()
    port, runs = server.port, results["workloads"]
    record = peer_record(label, runs, server)
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    user, password = creds["DOT_USER"], creds["DOT_PASS"]
    # gunicorn's sync workers close every connection: keep-alive and close are the same run.
    mode = "close"
    variants = [("hashed secret", "CC", "PW"), ("unhashed secret", "CCN", "PWN")]
    pw_token = token_request(port, basic(creds["PWN_ID"], creds["PWN_SECRET"]), grant_type="password",
                             username=user, password=password, scope="read")
    if wanted("W3"):
        check_me(port, pw_token["access_token"], user)
        record("W3", mode, run_oha(server, "/api/me/", headers={"Authorization": f"Bearer {pw_token['access_token']}"},
                                   keepalive=False), "password-grant token")
    for note, cc, pw in variants:
        cc_auth, pw_auth = basic(creds[f"{cc}_ID"], creds[f"{cc}_SECRET"]), basic(creds[f"{pw}_ID"], creds[f"{pw}_SECRET"])
        if wanted("W4"):
            check_introspection(port, "/o/introspect/", cc_auth, pw_token["access_token"], creds["PWN_ID"], user)
            record("W4", mode, run_oha(server, "/o/introspect/", "POST", {"Authorization": cc_auth, **form_type},
                                       form(token=pw_token["access_token"]), keepalive=False), note)
        if wanted("W1"):
            data = token_request(port, cc_auth, grant_type="client_credentials")
            check_introspection(port, "/o/introspect/", cc_auth, data["access_token"], creds[f"{cc}_ID"])
            record("W1", mode, run_oha(server, "/o/token/", "POST", {"Authorization": cc_auth, **form_type},
                                       form(grant_type="client_credentials"), keepalive=False), note)
        if wanted("W2"):
            fields = dict(grant_type="password", username=user, password=password, scope="read")
            data = token_request(port, pw_auth, **fields)
            check_me(port, data["access_token"], user)
            record("W2", mode, run_oha(server, "/o/token/", "POST", {"Authorization": pw_auth, **form_type},
                                       form(**fields), keepalive=False), note)
    time.sleep(2.0)
    results["idle_rss_kib_after"] = server.rss_kib()
    server.stop()


def run_oidc(results):
    label = "node-oidc-provider"
    run_peer_script(os.path.join(PEERS_DIR, "oidc", "setup.sh"), label)
    secret = os.environ.get("CC_CLIENT_SECRET", "cc-client-secret-0123456789abcdef0123456789abcdef")
    client_id = os.environ.get("CC_CLIENT_ID", "cc-client")
    port = free_port()
    server = Server("oidc", ["bash", os.path.join(PEERS_DIR, "oidc", "start.sh"), str(port)], port,
                    "/.well-known/openid-configuration", tree=True)
    STARTED.append(server)
    results["cold_start_ms"] = {"runs": [round(server.start(60) * 1000, 1)]}
    time.sleep(1.0)
    results["idle_rss_kib_start"] = server.rss_kib()
    results["processes"] = server.processes()
    runs, record = results["workloads"], peer_record(label, results["workloads"], server)
    auth = basic(client_id, secret)
    headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}

    def token():
        status, _, body = request(port, "POST", "/token", form(grant_type="client_credentials", scope="read"), headers)
        check(status == 200, f"node-oidc-provider /token answered {status}: {body[:300]!r}")
        data = json.loads(body)
        check(isinstance(data.get("access_token"), str) and len(data["access_token"]) >= 20, f"no token in {data}")
        return data["access_token"]

    for mode in modes():
        if wanted("W4"):
            # Its in-memory store keeps ~1,000 tokens: take a fresh one before each run.
            access = token()
            check_introspection(port, "/token/introspection", auth, access, client_id)
            record("W4", mode, run_oha(server, "/token/introspection", "POST", headers, form(token=access),
                                       keepalive=mode == "keep-alive"))
        if wanted("W1"):
            access = token()
            check_introspection(port, "/token/introspection", auth, access, client_id)
            record("W1", mode, run_oha(server, "/token", "POST", headers,
                                       form(grant_type="client_credentials", scope="read"),
                                       keepalive=mode == "keep-alive"))
    time.sleep(2.0)
    results["idle_rss_kib_after"] = server.rss_kib()
    server.stop()


# ---------------------------------------------------------------- report


def mib(kib):
    return f"{kib / 1024:.1f}" if kib else "-"


def micros(value):
    return f"{value:.1f}" if value else "-"


def print_report(report):
    rows = []
    for target in report["targets"]:
        for r in target["workloads"]:
            unit = "/s" if r.get("unit", "req") == "req" else " flows/s"
            peer = not target["name"].startswith("portcullis")
            workload = r["workload"] + (f" ({r['note']})" if peer and r.get("note") else "")
            if r.get("note", "").startswith("interleaved, after seeding"):
                workload = f"{r['workload']} +{STORED_TOKENS:,} stored (median)"
            elif r.get("note", "").startswith("interleaved,"):
                workload = f"{r['workload']} {r.get('stored_tokens', 0):,} stored (median)"
            rows.append([target["name"], workload, r["mode"], f"{r['rps']:,.1f}{unit}", f"{r['p50_ms']:.2f}",
                         f"{r['p99_ms']:.2f}", f"{r['non_2xx'] + r.get('errors', 0):,}", mib(r["peak_rss_kib"]),
                         micros(r.get("server_cpu_us_per_req")), micros(r.get("generator_cpu_us_per_req"))])
    header = ["server", "workload", "connections", "requests/s", "p50 ms", "p99 ms", "non-2xx+err", "peak RSS MiB",
              "server CPU us/req", "oha CPU us/req"]
    widths = [max(len(str(x[i])) for x in rows + [header]) for i in range(len(header))]
    line = "  ".join("{:<%d}" % w if i < 3 else "{:>%d}" % w for i, w in enumerate(widths))
    print()
    print(f"Portcullis benchmark, {report['started']}, {report['seconds']} s per run, {report['connections']} "
          f"connections, oha {report['oha_version']}, {report['cpus']} CPUs (load generator on the same host)")
    print(line.format(*header))
    print(line.format(*["-" * w for w in widths]))
    for row in rows:
        print(line.format(*row))
    print()
    for target in report["targets"]:
        cold = target.get("cold_start_ms") or {}
        runs = ", ".join(f"{c:.1f}" for c in cold.get("runs", []))
        extra = f", {target['processes']} process(es)" if target.get("processes") else ""
        print(f"{target['name']}: cold start to first 200: {runs} ms; idle RSS {mib(target.get('idle_rss_kib_start'))}"
              f" MiB after start, {mib(target.get('idle_rss_kib_after'))} MiB after the load{extra}")
        if target.get("stored_tokens_seed_seconds") is not None:
            print(f"  seeded {STORED_TOKENS:,} stored tokens in {target['stored_tokens_seed_seconds']} s; cold start on"
                  f" that database {target.get('cold_start_ms_large_db')} ms")
    ratios = report.get("ratios") or []
    if ratios:
        print()
        print("Ratios, measured in this run:")
        for r in ratios:
            print(f"  {r}")


def ratios(report):
    out = []
    by_key = {}
    for target in report["targets"]:
        for r in target["workloads"]:
            by_key.setdefault(target["name"], {})[(r["workload"], r["mode"], r.get("note", ""))] = r
    ours = by_key.get("portcullis-sqlite", {})

    def rate(workload, mode):
        r = ours.get((workload, mode, ""))
        return r["rps"] if r else None

    for mode in ("keep-alive", "close"):
        floor = rate("floor", mode)
        if floor:
            for w in ("W1", "W2", "W3", "W4"):
                if rate(w, mode):
                    out.append(f"portcullis {w} / floor ({mode}): {rate(w, mode) / floor:.3f}")
    for target in report["targets"]:
        if target["name"] == "portcullis-sqlite":
            for key, pair in (target.get("paired_ratios") or {}).items():
                out.append(f"portcullis {key.split()[0]} / floor ({key.split(' ', 1)[1]}), median of back-to-back pairs: "
                           f"{pair['median']:.3f} {pair['ratios']}")
    alone = ours.get(("argon2-alone", "-", "password::verify on every core, nothing else running"))
    for mode in ("keep-alive", "close"):
        if alone and rate("W2", mode):
            out.append(f"portcullis W2 / Argon2id alone ({mode}): {rate('W2', mode) / alone['rps']:.3f}")
    pyfloor = ours.get(("floor-py", "keep-alive", "the Python generator's own ceiling, for W5 and W6"))
    for w in ("W5", "W6"):
        for key, r in ours.items():
            if key[0] == w and pyfloor:
                out.append(f"portcullis {w} / Python-generator floor: {r['rps'] / pyfloor['rps']:.3f}")
    for key, r in ours.items():
        if r.get("note", "").startswith("interleaved, after seeding"):
            small = next((o for k, o in ours.items() if k[:2] == key[:2] and k[2].startswith("interleaved, ")
                          and not k[2].startswith("interleaved, after")), None)
            if small and small["rps"]:
                out.append(f"portcullis {key[0]} ({key[1]}) with {r['stored_tokens']:,} stored tokens / with "
                           f"{small['stored_tokens']:,}: {r['rps'] / small['rps']:.3f} (medians of alternating runs)")
    for (workload, mode, note), r in by_key.get("portcullis-baseline", {}).items():
        mine = ours.get((workload, mode, note))
        if mine and r["rps"] and not note.startswith("interleaved"):
            out.append(f"portcullis {workload} ({mode}) / baseline binary: {mine['rps'] / r['rps']:.2f}x")
    for peer in ("django-oauth-toolkit", "node-oidc-provider"):
        for (workload, mode, note), r in by_key.get(peer, {}).items():
            for our_mode in ([mode] if peer == "node-oidc-provider" else ["close", "keep-alive"]):
                mine = rate(workload, our_mode)
                if mine and r["rps"]:
                    label = f" {note}" if note else ""
                    out.append(f"portcullis {workload} ({our_mode}) / {peer} {workload}{label} ({mode}):"
                               f" {mine / r['rps']:,.1f}x")
    return out


def main():
    os.makedirs(WORK, exist_ok=True)
    out_dir = os.path.join(ROOT, "target", "bench")
    os.makedirs(out_dir, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        oha_version = subprocess.run([OHA, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        raise BenchError(f"oha not found at {OHA}; run bench/run, which installs it")
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    report = {
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": git, "seconds": SECONDS,
        "connections": CONNECTIONS, "oha_version": oha_version, "cpus": os.cpu_count(),
        "host": platform.node(), "stored_tokens_option": STORED_TOKENS, "targets": [],
        "loadavg_at_start": os.getloadavg(),
    }
    tag = started.strftime("%Y%m%d%H%M%S")
    try:
        db_path = os.path.join(WORK, "portcullis.db")
        sqlite_target = {"name": "portcullis-sqlite", "database": "sqlite (fresh, temp dir)", "workloads": []}
        report["targets"].append(sqlite_target)
        run_portcullis("portcullis-sqlite", f"sqlite://{db_path}", db_path, sqlite_target, tag)
        if BASELINE:
            base_path = os.path.join(WORK, "baseline.db")
            base_target = {"name": "portcullis-baseline", "database": f"sqlite, {BASELINE}", "workloads": []}
            report["targets"].append(base_target)
            run_portcullis("portcullis-baseline", f"sqlite://{base_path}", base_path, base_target, tag, BASELINE)
        if PG_URL:
            pg_target = {"name": "portcullis-postgres", "database": "postgres (BENCH_DATABASE_URL)", "workloads": []}
            report["targets"].append(pg_target)
            run_portcullis("portcullis-postgres", PG_URL, None, pg_target, tag)
        if PEERS:
            if not os.path.isdir(PEERS_DIR):
                raise BenchError(f"BENCH_PEERS=1 but {PEERS_DIR} does not exist")
            for name, runner in (("django-oauth-toolkit", run_dot), ("node-oidc-provider", run_oidc)):
                target = {"name": name, "workloads": []}
                report["targets"].append(target)
                runner(target)
    finally:
        stop_all()
        report["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        report["loadavg_at_end"] = os.getloadavg()
        report["ratios"] = ratios(report)
        path = os.path.join(out_dir, f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json")
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
        if any(t["workloads"] for t in report["targets"]):
            print_report(report)
        print(f"\nJSON: {os.path.relpath(path, ROOT)}")


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        main()
    except BenchError as error:
        log(f"FAILED: {error}")
        sys.exit(1)
    except KeyboardInterrupt as error:
        stop_all()
        log(f"interrupted ({error})")
        sys.exit(130)
    except Exception:
        stop_all()
        import traceback
        traceback.print_exc()
        log("FAILED (unexpected error above)")
        sys.exit(1)
