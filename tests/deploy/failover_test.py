"""Failover behind a real load balancer: nginx running deploy/nginx/nginx.conf (issue #14, 4).

Usage: failover_test.py ASTCD_SERVER_BINARY [--keys K] [--min-sessions N] [--nginx PATH]
(in a venv with astcd_client installed, as CTest's `failover` runs it; Debian's nginx on PATH)

On loopback, 3 astcd-server replicas run behind nginx, which runs the shipped config with only
its four addresses replaced (Nginx.render). K client threads, each with its own affinity key
(x-astcd-affinity), decode sessions in batches with a seeded client-side sampler: InitStates,
then a legal token chosen by a per-session random.Random until the program ends, then
Detokenize and ReleaseStates. Half the keys step over unary LegalMasks/Advance, half over a
Step stream. The run goes through phases; the clients pause between phases (no call in
flight) so that each call belongs to exactly one phase:

  steady      all replicas up; fixes each key's home replica
  kill        kill -9 of the replica homing the most keys, while calls are in flight
  restart     it starts again on the same ports, and its keys come back
  term-R      for each replica R in turn: SIGTERM, its drain, its exit (a rolling restart)...
  start-R     ...then it starts again on the same ports, and its keys come back
  settled     all up; the run goes on until at least N sessions have finished

The clients replay lost sessions (astcd_client's replay: NOT_FOUND or UNAVAILABLE -> re-create
from origin and tokens on whichever replica nginx picks now, docs/operations.md "Recovery").

What is checked, and how:
  - programs: every session's tokens and source equal a reference run of the same sessions
    (same seeds) on one server without nginx and without failures;
  - each session index finished exactly once;
  - affinity: nginx names the replica it routed each call to in the response metadata
    x-astcd-upstream (the config's add_header). Per phase and key, the replicas of its routing
    decisions (unary calls and Step stream opens; the steps of an open stream are not
    routed again): in steady and settled, only its home, with no replay and no error; when
    replica R goes down, the keys homed elsewhere stay home, R's keys move once to one other
    replica; when R comes back, they move back once, from that replica;
  - the replicas' own counters agree: for every replica that ran the whole phase (or started
    in it, from zero), grpc_server_started_total per Decoder method == the calls the clients
    saw routed to it, so the metadata cannot lie about where calls went;
  - no session lost or duplicated: every session id an InitStates returned is attributed to
    the replica that created it. At the end, after the clients released theirs, the leftovers
    (copies abandoned when a key moved) are released directly on each replica: a leftover is
    found only on the replica that created it, and then astcd_sessions_live is 0 on every
    replica with no TTL eviction, so no session exists that the ledger does not know of.
"""
import argparse
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

import grpc
from astcd_client import AstcdError, Client, StepStream, mask_to_token_ids

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
REQUEST = {"start": "function", "max_len": 64}
BATCH, SEED = 4, 1400
UPSTREAM_HEADER = "x-astcd-upstream"
PHASE_TIMEOUT = 90.0


def free_port():
    """A port the kernel just handed out (a test-only race, as every loopback test has)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, what):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


# -- the deployment ---------------------------------------------------------------------------

class Replica:
    """One astcd-server process on fixed ports, restartable on the same ports. `generation`
    tells its processes apart (counters restart at zero with each)."""

    def __init__(self, server, tmp, index):
        self.server, self.tmp, self.index = server, tmp, index
        self.port, self.metrics_port = free_port(), free_port()
        self.proc, self.generation = None, 0

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        # A short drain deadline: Step streams stay open through the drain and are cut at its
        # end, so it bounds each step of the rolling restart.
        log = open(Path(self.tmp) / f"replica{self.index}.log", "a")
        self.proc = subprocess.Popen(
            [self.server, "--listen", self.addr, "--metrics-listen",
             f"127.0.0.1:{self.metrics_port}", "--drain-deadline", "2s"],
            stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("astcd-server listening on "), line
        self.generation += 1

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self):
        self.proc.send_signal(signal.SIGTERM)

    def scrape(self):
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        return [line.rsplit(" ", 1) for line in text.splitlines()
                if line and not line.startswith("#")]

    def gauge(self, name):
        return sum(float(v) for series, v in self.scrape()
                   if series == name or series.startswith(name + "{"))

    def started(self):
        """grpc_server_started_total of the Decoder service, by method."""
        out = Counter()
        for series, v in self.scrape():
            if series.startswith("grpc_server_started_total{"):
                labels = dict(re.findall(r'(\w+)="([^"]*)"', series))
                if labels.get("grpc_service") == "astcd.v1.Decoder":
                    out[labels["grpc_method"]] += int(float(v))
        return out


class Nginx:
    """nginx running the shipped config in a temp prefix (pid and temp files there)."""

    def __init__(self, nginx, tmp, listen, replicas):
        self.nginx, self.prefix = nginx, Path(tmp) / "nginx"
        self.prefix.mkdir()
        os.chmod(self.prefix, 0o755)  # nginx's workers drop root to `nobody` when run as root
        self.listen = listen
        subs = {"127.0.0.1:8080": listen}
        subs.update({f"127.0.0.1:{50051 + i}": r.addr for i, r in enumerate(replicas)})
        (self.prefix / "nginx.conf").write_text(self.render(NGINX_CONF.read_text(), subs))
        self.proc = None

    @staticmethod
    def render(text, subs):
        """The config with each address replaced where a directive (not a comment) names it,
        exactly once each: if the shipped file changes shape, the test says so."""
        pattern = re.compile("|".join(re.escape(k) for k in subs))
        seen = Counter()

        def line_sub(line):
            if line.lstrip().startswith("#"):
                return line
            return pattern.sub(lambda m: (seen.update([m.group(0)]), subs[m.group(0)])[1], line)
        out = "\n".join(line_sub(line) for line in text.split("\n"))
        assert all(seen[k] == 1 for k in subs), f"addresses in {NGINX_CONF}: {dict(seen)}"
        return out

    def start(self):
        self.log = open(self.prefix / "error.log", "w")
        self.proc = subprocess.Popen(
            [self.nginx, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
             "-e", str(self.prefix / "error.log")], stdout=self.log, stderr=self.log)
        host, port = self.listen.rsplit(":", 1)

        def listening():
            assert self.proc.poll() is None, (self.prefix / "error.log").read_text()
            with socket.socket() as s:
                return s.connect_ex((host, int(port))) == 0
        wait_until(listening, 10, "nginx to listen")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


# -- what the clients saw ---------------------------------------------------------------------

class Recorder:
    """Routes, outcomes and created sessions, per phase; and the pause between phases."""

    def __init__(self):
        self.cond = threading.Condition()
        self.phase, self.paused, self.parked, self.active = "prelude", False, 0, 0
        self.routes = []                 # (phase, key, method, replica): routing decisions
        self.outcomes = Counter()        # (phase, status code name): every call and step
        self.created = {}                # session id -> the replica that created it
        self.batches = []                # (phase, key, replica of its InitStates)
        self.fully_released = set()      # session ids a client's ReleaseStates freed
        self.short_releases = Counter()  # phase -> ReleaseStates that freed fewer than asked
        self.finished = 0
        self.client_replays = 0          # astcd_client's replays (calls made again)
        self.draining = set()            # replicas sent SIGTERM and not yet started again
        self.drain_cancels = Counter()   # phase -> CANCELLED answers of a draining replica

    def gate(self):
        """Called before every call: parks the caller while the harness changes phase."""
        with self.cond:
            if self.paused:
                self.parked += 1
                self.cond.notify_all()
                while self.paused:
                    self.cond.wait()
                self.parked -= 1
            return self.phase

    def pause(self):
        with self.cond:
            self.paused = True
            if not self.cond.wait_for(lambda: self.parked == self.active, PHASE_TIMEOUT):
                raise AssertionError("the clients did not pause")

    def resume(self, phase):
        with self.cond:
            self.phase, self.paused = phase, False
            self.cond.notify_all()

    def enter(self, delta):
        with self.cond:
            self.active += delta
            self.cond.notify_all()

    def route(self, phase, key, method, replica):
        with self.cond:
            self.routes.append((phase, key, method, replica))

    def outcome(self, phase, code):
        with self.cond:
            self.outcomes[(phase, code)] += 1

    def drain_cancel(self, phase, replica, error):
        """gRPC's shutdown answers CANCELLED to calls a draining replica received but had not
        started (grpc/grpc#41785; the server's --drain-grace makes them rare), and astcd_client
        replays them. Such answers are counted; from a replica that is not draining, a
        CANCELLED is a bug, and becomes an error no client replays."""
        if error.code != grpc.StatusCode.CANCELLED:
            return error
        if replica not in self.draining:
            return AstcdError(grpc.StatusCode.INTERNAL, f"CANCELLED from {replica}: {error.message}")
        with self.cond:
            self.drain_cancels[phase] += 1
        return error

    def count_replays(self, n):
        with self.cond:
            self.client_replays += n

    def create(self, ids, replica):
        with self.cond:
            for i in ids:
                assert i not in self.created, f"session id {i} created twice"
                self.created[i] = replica

    def batch_done(self, phase, key, replica, n):
        with self.cond:
            self.batches.append((phase, key, replica))
            self.finished += n

    def release(self, phase, ids, released):
        with self.cond:
            if released == len(ids):
                self.fully_released.update(ids)
            else:
                self.short_releases[phase] += 1


def upstream(call):
    """The replica nginx routed a call to: the last address of its x-astcd-upstream."""
    for md in (call.initial_metadata, call.trailing_metadata):
        try:
            for k, v in md() or ():
                if k == UPSTREAM_HEADER:
                    return v.split(",")[-1].strip() or None
        except Exception:  # an unfinished stream has no trailing metadata to read yet
            pass
    return None


class TracingClient(Client):
    """astcd_client's Client, with each call's route and outcome recorded (the library's
    execute, made with with_call to see the response metadata)."""

    def __init__(self, target, key, rec, **kwargs):
        super().__init__(target, affinity_key=key, **kwargs)
        self.key, self.rec = key, rec
        self.last_init_replica = None  # where the last InitStates (or replay) made sessions

    def execute(self, call):
        phase = self.rec.gate()
        kwargs = {"wait_for_ready": True} if call.retry else {}
        method = getattr(self.stub, call.method)
        try:
            resp, rpc = method.with_call(call.request, timeout=self.timeout,
                                         metadata=self.metadata, **kwargs)
        except grpc.RpcError as e:
            self.rec.route(phase, self.key, call.method, upstream(e))
            self.rec.outcome(phase, e.code().name)
            if e.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                sys.stderr.write(f"{phase} {self.key} {call.method} via {upstream(e)}: "
                                 f"{e.debug_error_string()}\n")
            raise self.rec.drain_cancel(phase, upstream(e),
                                        AstcdError.from_rpc_error(e)) from None
        replica = upstream(rpc)
        self.rec.route(phase, self.key, call.method, replica)
        self.rec.outcome(phase, "OK")
        if call.method == "InitStates":
            self.rec.create([s.session_id for s in resp.states], replica)
            self.last_init_replica = replica
        return resp


class TracingStepStream(StepStream):
    """astcd_client's StepStream; a stream's open is a routing decision, its steps are not."""

    def _open(self):
        super()._open()
        self.last_opened = self._responses

    def execute(self, call):
        if call.method not in ("Advance", "LegalMasks"):
            return self.client.execute(call)  # a replay's InitStates: a unary call
        phase = self.client.rec.gate()
        opened = self.streams_opened
        try:
            out = super().execute(call)
            self.client.rec.outcome(phase, "OK")
            return out
        except AstcdError as e:
            self.client.rec.outcome(phase, e.code.name)
            raise self.client.rec.drain_cancel(phase, upstream(self.last_opened), e) from None
        finally:
            if self.streams_opened != opened:  # this step opened a stream
                self.client.rec.route(phase, self.client.key, "Step", upstream(self.last_opened))


# -- the workload -----------------------------------------------------------------------------

def retry_unavailable(fn, attempts=10):
    """InitStates, Detokenize and ReleaseStates are not replayed by the client (no session to
    re-create); a call lost with its replica is simply made again."""
    for attempt in range(attempts):
        try:
            return fn()
        except AstcdError as e:
            if e.code != grpc.StatusCode.UNAVAILABLE or attempt + 1 == attempts:
                raise
            time.sleep(min(0.05 * 2 ** attempt, 2.0))


def session_indices(key_index, batch_no, keys):
    """Key k's batch j: a fixed set of session indices, so the reference can redo it."""
    return [key_index + keys * (batch_no * BATCH + b) for b in range(BATCH)]


def step_all(client, stream, sessions, masks, rngs):
    """Advances every live session by one seeded legal token; returns False when none is."""
    live = [k for k, s in enumerate(sessions) if not s.terminated]
    if not live:
        return False
    picks = [rngs[k].choice(mask_to_token_ids(masks[k])) for k in live]
    chosen = [sessions[k] for k in live]
    if stream is not None:
        _, rows = stream.advance(chosen, picks)
        for k, row in zip(live, rows):
            masks[k] = row
        return True
    client.advance(chosen, picks)
    still = [k for k in live if not sessions[k].terminated]
    if still:
        for k, row in zip(still, client.legal_masks([sessions[k] for k in still])):
            masks[k] = row
    return True


def decode_batch(client, stream, indices):
    """One batch from InitStates to ReleaseStates: {session index: (tokens, source)}."""
    sessions, masks = retry_unavailable(
        lambda: client.init_states([REQUEST] * len(indices), return_masks=True))
    rngs = [random.Random(SEED + i) for i in indices]
    while step_all(client, stream, sessions, masks, rngs):
        pass
    sources = retry_unavailable(
        lambda: client.detokenize([s.tokens for s in sessions], start="function"))
    assert all(r["ok"] for r in sources), sources
    ids = [s.session_id for s in sessions]
    released = retry_unavailable(lambda: client.release(sessions))
    return {i: (list(s.tokens), r["source"]) for i, s, r in zip(indices, sessions, sources)}, \
        ids, released


def lb_worker(target, key, key_index, keys, rec, stop, results, errors):
    """A client with affinity key `key` (the k-th) decoding its batches until told to stop."""
    rec.enter(+1)
    try:
        with TracingClient(target, key, rec, timeout=30, max_attempts=10) as client:
            stream = TracingStepStream(client) if key_index % 2 else None
            batch_no = 0
            while not stop.is_set():
                out, ids, released = decode_batch(client, stream,
                                                  session_indices(key_index, batch_no, keys))
                phase = rec.phase  # not paused since its ReleaseStates: the phase of that call
                rec.release(phase, ids, released)
                rec.batch_done(phase, key, client.last_init_replica, len(out))
                for i, v in out.items():
                    assert i not in results, f"session {i} finished twice"
                    results[i] = v
                batch_no += 1
            if stream is not None:
                stream.close()
            rec.count_replays(client.replays)
    except BaseException as e:  # reported by the harness, which then fails
        errors.append(f"{key}: {e!r}")
        stop.set()
    finally:
        rec.enter(-1)


def reference_worker(target, key_index, keys, batches, results):
    with Client(target, timeout=60) as client:
        stream = client.step_stream() if key_index % 2 else None
        for batch_no in range(batches):
            out, _, released = decode_batch(client, stream,
                                            session_indices(key_index, batch_no, keys))
            assert released == BATCH
            results.update(out)
        if stream is not None:
            stream.close()


def run_threads(targets):
    threads = [threading.Thread(target=t, args=a) for t, a in targets]
    for t in threads:
        t.start()
    return threads


# -- the phases -------------------------------------------------------------------------------

class Harness:
    def __init__(self, args, tmp):
        self.args, self.tmp, self.rec = args, tmp, Recorder()
        self.replicas = [Replica(args.server, tmp, i) for i in range(3)]
        self.target = f"127.0.0.1:{free_port()}"
        self.nginx = Nginx(args.nginx, tmp, self.target, self.replicas)
        self.stop, self.results, self.errors = threading.Event(), {}, []
        self.samples = {}   # phase -> (before, after): {addr: (generation, started)}
        self.homes = {}     # key -> home replica (from the steady phase)
        self.events = []    # (phase, replica addr, "down" | "up")
        self.timings = {}

    def sample(self):
        return {r.addr: (r.generation, r.started()) for r in self.replicas if r.alive()}

    def phase(self, name, action, until):
        """Runs one phase: sample, resume, act, run until `until()`, pause, sample."""
        before = self.sample()
        t0 = time.monotonic()
        self.rec.resume(name)
        action()
        wait_until(lambda: until() or self.errors, PHASE_TIMEOUT, f"phase {name}")
        assert not self.errors, self.errors
        self.rec.pause()
        self.samples[name] = (before, self.sample())
        self.timings[name] = time.monotonic() - t0

    def routes_of(self, phase, key=None):
        return [r for p, k, m, r in self.rec.routes if p == phase and key in (None, k)]

    def keys_of(self, replica):
        return [k for k, h in self.homes.items() if h == replica]

    def moved(self, phase, replica, n=3):
        """Every key of `replica` has been routed n times elsewhere in this phase."""
        return all(sum(r not in (None, replica) for r in self.routes_of(phase, k)) >= n
                   for k in self.keys_of(replica))

    def back(self, phase, replica, n=2):
        """Every key of `replica` has finished n batches made on it in this phase: by then any
        Step stream left on the replica they had moved to has been reopened."""
        done = Counter(k for p, k, r in self.rec.batches if p == phase and r == replica)
        return all(done[k] >= n for k in self.keys_of(replica))

    def run(self):
        for r in self.replicas:
            r.start()
        self.nginx.start()
        prelude(self.target, self.replicas[0].addr)
        keys = self.args.keys
        names = key_names(self.target, keys, {r.addr for r in self.replicas})
        self.rec.pause()
        threads = run_threads([(lb_worker, (self.target, names[k], k, keys, self.rec, self.stop,
                                            self.results, self.errors)) for k in range(keys)])
        wait_until(lambda: self.rec.active == keys and self.rec.parked == keys, 30,
                   "the clients to start")
        self.rec.pause()
        self.phase("steady", lambda: None,
                   lambda: self.rec.finished >= self.args.min_sessions // 10
                   and len({k for p, k, _, _ in self.rec.routes if p == "steady"}) == keys)
        self.homes = {n: self.routes_of("steady", n)[0] for n in names}
        # Every replica must home a key, or its failure would test nothing.
        assert all(self.keys_of(r.addr) for r in self.replicas), self.homes
        victim = max(self.replicas, key=lambda r: len(self.keys_of(r.addr)))
        self.phase("kill", lambda: (time.sleep(0.3), victim.kill(),
                                    self.events.append(("kill", victim.addr, "down"))),
                   lambda: self.moved("kill", victim.addr))
        self.phase("restart", lambda: (victim.start(),
                                       self.events.append(("restart", victim.addr, "up"))),
                   lambda: self.back("restart", victim.addr))
        for r in self.replicas:
            self.rolling(r)
        target = self.args.min_sessions
        self.phase("settled", lambda: None,
                   lambda: self.rec.finished >= target and self.every_key_finished("settled"))
        self.stop.set()
        self.rec.resume("settled")
        for t in threads:
            t.join()
        assert not self.errors, self.errors
        self.samples["settled"] = (self.samples["settled"][0], self.sample())

    def rolling(self, r):
        name = f"term-{r.index}"
        self.phase(name, lambda: (self.rec.draining.add(r.addr), r.terminate(),
                                  self.events.append((name, r.addr, "down"))),
                   lambda: r.proc.poll() is not None and self.moved(name, r.addr))
        assert r.proc.returncode == 0, f"replica {r.index} exited {r.proc.returncode}"
        name = f"start-{r.index}"
        self.phase(name, lambda: (self.rec.draining.discard(r.addr), r.start(),
                                  self.events.append((name, r.addr, "up"))),
                   lambda: self.back(name, r.addr))

    def every_key_finished(self, phase):
        return len({k for p, k, _ in self.rec.batches if p == phase}) == self.args.keys

    def shutdown(self):
        self.stop.set()
        self.rec.resume("shutdown")
        self.nginx.stop()
        for r in self.replicas:
            if r.alive():
                r.kill()


def key_names(target, keys, replicas):
    """`keys` affinity keys that home at least one on every replica. nginx places the replicas
    on its hash ring by their addresses, random ports here, so a fixed set of names can miss a
    replica (it did once); the first salt whose names reach all of them is taken."""
    with Client(target, replay_sessions=False) as c:
        for salt in range(50):
            names = [f"key-{k}" if salt == 0 else f"key{salt}-{k}" for k in range(keys)]
            homes = set()
            for name in names:
                _, call = c.stub.GetVocabulary.with_call(
                    c.pb2.GetVocabularyRequest(),
                    metadata=c.metadata + [("x-astcd-affinity", name)])
                homes.add(upstream(call))
            if homes >= replicas:
                return names
    raise AssertionError(f"no 50 sets of {keys} keys reach every replica: {replicas}")


def prelude(target, direct):
    """Before the run: a Decode stream, an error's status details and the upstream metadata
    pass through nginx unchanged."""
    with Client(target, affinity_key="prelude", replay_sessions=False) as lb, \
            Client(direct, replay_sessions=False) as one:
        ask = dict(init_requests=[REQUEST] * 3, n=4, seed=11)
        assert list(lb.decode(**ask)) == list(one.decode(**ask)), "Decode differs through nginx"
        for c in (lb, one):
            s = c.init_states([REQUEST])
            try:
                c.advance(s, [10 ** 6])
                raise AssertionError("an out-of-vocabulary token was accepted")
            except AstcdError as e:
                assert e.code == grpc.StatusCode.INVALID_ARGUMENT, e
                assert [v.field for v in e.field_violations] == ["token_ids[0]"], e
            assert c.release(s) == 1
        try:
            lb.legal_masks(["no-such-session"])
            raise AssertionError("an unknown session was found")
        except AstcdError as e:
            assert e.code == grpc.StatusCode.NOT_FOUND, e
        _, call = lb.stub.GetVocabulary.with_call(lb.pb2.GetVocabularyRequest(),
                                                  metadata=lb.metadata)
        assert upstream(call) is not None, "nginx sent no x-astcd-upstream"


# -- the checks -------------------------------------------------------------------------------

def check_programs(h):
    """Every session finished once, with the reference run's tokens and source."""
    keys = h.args.keys
    per_key = Counter(i % keys for i in h.results)
    assert all(n % BATCH == 0 for n in per_key.values()), per_key
    expected = {i for k in range(keys) for b in range(per_key[k] // BATCH)
                for i in session_indices(k, b, keys)}
    assert set(h.results) == expected, "a session index is missing"
    ref_server = Replica(h.args.server, h.tmp, 9)
    ref_server.start()
    try:
        reference = {}
        for t in run_threads([(reference_worker, (ref_server.addr, k, keys,
                                                  per_key[k] // BATCH, reference))
                              for k in range(keys)]):
            t.join()
    finally:
        ref_server.kill()
    diff = [i for i in sorted(expected) if h.results[i] != reference.get(i)]
    assert not diff, (f"{len(diff)} of {len(expected)} programs differ from the reference; "
                      f"session {diff[0]}: {h.results[diff[0]]} vs {reference.get(diff[0])}")
    return len(expected)


def compressed(seq):
    out = []
    for x in seq:
        if not out or out[-1] != x:
            out.append(x)
    return out


def check_affinity(h):
    """Per phase and key: where nginx routed its calls (see the module's docstring)."""
    phases = [name for name in h.samples]
    event = {name: (addr, kind) for name, addr, kind in h.events}
    moved_to = {}
    for phase in phases:
        addr, kind = event.get(phase, (None, None))
        for key, home in h.homes.items():
            routes = h.routes_of(phase, key)
            # No x-astcd-upstream: the call or stream died with its replica before nginx could
            # answer it (an HTTP 502, a reset stream). Only where a replica went down; the
            # counters' check (check_counters) shows such calls reached no survivor.
            assert kind == "down" or None not in routes, f"{phase}: {key} has unrouted calls"
            seq = compressed(r for r in routes if r is not None)
            if home != addr:
                assert seq in ([], [home]), f"{phase}: {key} (home {home}) went to {seq}"
            elif kind == "down":
                assert len(seq) in (1, 2) and seq[-1] != home and seq[0] in (home, seq[-1]), \
                    f"{phase}: {key} (home {home}, down) went to {seq}"
                moved_to[key] = seq[-1]
            else:
                assert seq in ([home], [moved_to[key], home]), \
                    f"{phase}: {key} (home {home}, back) went to {seq}"
    for phase in ("steady", "settled"):
        bad = {c: n for (p, c), n in h.rec.outcomes.items() if p == phase and c != "OK"}
        assert not bad, f"{phase}: calls failed: {bad}"
        assert not h.rec.short_releases[phase], f"{phase}: a ReleaseStates missed sessions"


def check_counters(h):
    """The replicas' grpc_server_started_total against the routes the clients saw."""
    checked = 0
    for phase, (before, after) in h.samples.items():
        seen = defaultdict(Counter)
        for p, _, method, replica in h.rec.routes:
            if p == phase:
                seen[replica][method] += 1
        for addr, (gen, counts) in after.items():
            if addr in before and before[addr][0] == gen:
                delta = counts - before[addr][1]
            elif any(e == (phase, addr, "up") for e in h.events):
                delta = counts  # started in this phase: its counters began at zero
            else:
                continue
            assert +seen[addr] == +delta, f"{phase} {addr}: clients saw {dict(seen[addr])}, " \
                                          f"the replica counted {dict(delta)}"
            checked += 1
    return checked


def check_sessions(h):
    """Leftover copies live only where they were created; then nothing is live anywhere."""
    leftovers = defaultdict(list)
    for sid, replica in h.rec.created.items():
        if sid not in h.rec.fully_released:
            leftovers[replica].append(sid)
    freed = 0
    for r in h.replicas:
        with Client(r.addr, replay_sessions=False) as c:
            own = release_all(c, leftovers[r.addr])
            others = release_all(c, [s for a, ids in leftovers.items() if a != r.addr
                                     for s in ids])
        assert others == 0, f"{r.addr} held {others} sessions created on other replicas"
        live, evicted = r.gauge("astcd_sessions_live"), r.gauge("astcd_sessions_evicted_total")
        assert live == 0 and evicted == 0, f"{r.addr}: {live} live, {evicted} evicted"
        freed += own
    return sum(len(v) for v in leftovers.values()), freed


def release_all(client, ids, chunk=1000):
    return sum(client.release(ids[i:i + chunk]) for i in range(0, len(ids), chunk))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--keys", type=int, default=24)
    ap.add_argument("--min-sessions", type=int, default=1000)
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    args = ap.parse_args()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="astcd-failover-") as tmp:
        h = Harness(args, tmp)
        try:
            h.run()
            run_s = time.monotonic() - t0
            check_affinity(h)
            checked = check_counters(h)
            leftover, freed = check_sessions(h)
            sessions = check_programs(h)
        except BaseException:
            for log in sorted(Path(tmp).glob("*.log")) + [h.nginx.prefix / "error.log"]:
                if log.exists():
                    sys.stderr.write(f"--- {log.name} (tail)\n{log.read_text()[-3000:]}\n")
            raise
        finally:
            h.shutdown()
    print(f"failover_test: {sessions} sessions over {args.keys} keys identical to the reference "
          f"through kill -9 and a rolling restart behind nginx; {len(h.rec.routes)} routed calls, "
          f"{h.rec.client_replays} calls replayed after re-creating sessions, "
          f"{sum(h.rec.drain_cancels.values())} CANCELLED answers of a draining replica, "
          f"{leftover} abandoned session ids ({freed} still live, freed), "
          f"{checked} replica-phase counter checks; run {run_s:.0f} s, total "
          f"{time.monotonic() - t0:.0f} s; phases (s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in h.timings.items()))

if __name__ == "__main__":
    main()
