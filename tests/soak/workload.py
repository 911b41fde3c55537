"""The soak's clients: one thread each, on its own gRPC channel, drawing actions at random
until the run ends.

Every call goes through Client.call, which times it, and classifies how it ended. A call that
ends other than the way the contract promises is an unexpected error: the soak fails on any.
What is expected is narrow: OK everywhere, the documented code (and field) of each hostile
case, NOT_FOUND only for a session the soak left to expire (or that a stalled client left
unnamed for longer than the TTL: counted apart, see Client.stalled), CANCELLED only for a
Decode stream the client cancelled, RESOURCE_EXHAUSTED only for a Decode refused because all
--max-decode-streams are busy. UNAVAILABLE, INTERNAL, UNKNOWN and DEADLINE_EXCEEDED (calls
get 60 s) are never expected.
"""
import collections
import threading
import time
from array import array

import grpc
from astcd.v1 import astcd_pb2 as pb
from astcd.v1 import astcd_pb2_grpc as pbg
from google.rpc import error_details_pb2, status_pb2

import hostile

SC = grpc.StatusCode
C, R, AT = pb.DecodeConfig, pb.InitRequest, pb.ArgTuple
DEADLINE = 60
# A few configs on one vocabulary (docs/api.md: depths, loops and shape controls keep the
# token list), so that the engine cache holds several engines but does not churn.
CONFIGS = [C(), C(allow_loops=True), C(max_expr_depth=3, max_block_stmts=3),
           C(no_dead_code=True, use_all_params=True)]
STARTS = [pb.START_MODULE, pb.START_FUNCTION, pb.START_FUNCTION, pb.START_BLOCK, pb.START_EXPR]
RUN_STATUSES = {"ok", "zero_division", "overflow", "step_limit"}  # invalid_program: never
# The calls of a decoding loop: the pooled per-window latency the trend checks look at.
SESSION_METHODS = ("InitStates", "LegalMasks", "Advance", "Rollback", "ForkStates",
                   "ReleaseStates")


class Stats:
    """What all clients measured: latencies per (window, method), outcome counters, and the
    unexpected errors with enough context to reproduce them."""

    def __init__(self, t0, window_s):
        self.t0, self.window_s = t0, window_s
        self.lock = threading.Lock()
        self.latency = collections.defaultdict(lambda: array("d"))
        self.counts = collections.Counter()
        self.unexpected = []

    def window(self):
        return int((time.monotonic() - self.t0) / self.window_s)

    def record(self, method, seconds, code):
        with self.lock:
            self.latency[(self.window(), method)].append(seconds)
            self.counts[f"{method} {code.name}"] += 1

    def count(self, event, n=1):
        with self.lock:
            self.counts[event] += n

    def fail(self, what, detail):
        with self.lock:
            self.unexpected.append({"t": round(time.monotonic() - self.t0, 3),
                                    "window": self.window(), "what": what,
                                    "detail": str(detail)[:600]})


def fields_of(error):
    """The google.rpc.BadRequest fields an error names."""
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    out = []
    for d in (status_pb2.Status.FromString(raw).details if raw else []):
        br = error_details_pb2.BadRequest()
        if d.Unpack(br):
            out += [v.field for v in br.field_violations]
    return out


def legal_tokens(bitmask, row, words, vocab_size):
    """The legal token ids of mask row `row`: little-endian int32 words, token i is bit i % 32
    of word i // 32, so the row read as one little-endian integer has bit i for token i."""
    bits = int.from_bytes(bitmask[row * words * 4:(row + 1) * words * 4], "little")
    return [t for t in range(vocab_size) if bits >> t & 1]


class Batch:
    """The sessions of one decoding loop, as the client tracks them: ids, tokens and the mask
    row of each active (not yet terminated) session."""

    def __init__(self, ids, tokens, starts):
        self.ids, self.tokens, self.starts = list(ids), [list(t) for t in tokens], list(starts)
        self.active = list(range(len(self.ids)))
        self.masks = None  # (bitmask, words, vocab) rows for self.active, in order
        self.named_at = [time.monotonic()] * len(self.ids)  # when a call last named each
        self.lost = False  # expired while this client stalled (Client.batch_call)


class Client(threading.Thread):
    def __init__(self, index, target, stats, stop, rng, ttl_s, vocab_names):
        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.target, self.stats, self.stop, self.rng = target, stats, stop, rng
        self.ttl_s, self.names = ttl_s, vocab_names
        self.abandoned = collections.deque()  # (session id, when it was last named)
        self.channel, self.stub = None, None
        self.connect()

    # ---- plumbing ----------------------------------------------------------------------

    def connect(self):
        if self.channel is not None:
            self.channel.close()
        # A local subchannel pool: each client gets its own TCP connection, so a reconnect
        # really opens a new one instead of reusing a shared subchannel.
        self.channel = grpc.insecure_channel(self.target, options=[
            ("grpc.use_local_subchannel_pool", 1)])
        grpc.channel_ready_future(self.channel).result(timeout=DEADLINE)
        self.stub = pbg.DecoderStub(self.channel)

    def call(self, method, request, expect=(SC.OK,), field=None, what=None):
        """One unary call, timed. Returns (response or None, code); an outcome not in
        `expect` (or an error without `field`) is recorded as unexpected."""
        t = time.perf_counter()
        try:
            resp, code, err = getattr(self.stub, method)(request, timeout=DEADLINE), SC.OK, None
        except grpc.RpcError as e:
            resp, code, err = None, e.code(), e
        self.stats.record(method, time.perf_counter() - t, code)
        if code not in expect:
            self.stats.fail(what or method, f"{code.name}: {err.details() if err else ''}")
        elif err is not None and field is not None and field not in fields_of(err):
            self.stats.fail(what or method, f"{code.name} without field {field}: "
                                            f"{fields_of(err)} {err.details()}")
        return resp, code

    def run(self):
        actions = [(self.decode_loop, 50), (self.abandon, 8), (self.decode_cancelled, 5),
                   (self.decode_whole, 3), (self.tokenize_sessions, 5), (self.hostile, 25),
                   (self.reconnect, 1)]
        fns, weights = zip(*actions)
        while not self.stop.is_set():
            fn = self.rng.choices(fns, weights)[0]
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - a bug of the soak itself must fail it too
                self.stats.fail(f"client exception in {fn.__name__}", repr(e))
            self.stats.count(f"action {fn.__name__}")

    # ---- decoding loops: init, advance to completion, fork, rollback, release ------------

    def init_request(self):
        start = self.rng.choice(STARTS)
        req = R(start=start, max_len=self.rng.randint(24, 96))
        if start in (pb.START_BLOCK, pb.START_EXPR):
            req.arity = self.rng.randint(1, 3)
        return req

    def init_batch(self, config, k):
        reqs = [self.init_request() for _ in range(k)]
        resp, _ = self.call("InitStates", pb.InitStatesRequest(config=config, requests=reqs,
                                                               return_masks=True))
        if resp is None:
            return None
        b = Batch([s.session_id for s in resp.states], [[] for _ in reqs], [r.start for r in reqs])
        b.masks = (resp.bitmask, resp.words_per_row, resp.vocab_size)
        return b

    def batch_call(self, batch, method, request, indices=None):
        """A call that names sessions of the batch (its active ones by default). NOT_FOUND is
        expected only when this client left one of them unnamed for close to the TTL (a thread
        stalled on a loaded machine): the batch is then lost, and counted apart."""
        indices = batch.active if indices is None else indices
        now = time.monotonic()
        stalled = any(now - batch.named_at[i] > 0.8 * self.ttl_s for i in indices)
        for i in indices:
            batch.named_at[i] = now
        resp, code = self.call(method, request,
                               expect=(SC.OK, SC.NOT_FOUND) if stalled else (SC.OK,))
        if code == SC.NOT_FOUND:
            batch.lost = True
            self.stats.count("batches lost to a client stall")
        return resp

    def decode_loop(self):
        batch = self.init_batch(self.rng.choice(CONFIGS), self.rng.randint(1, 6))
        if batch is None:
            return
        try:
            steps = 0
            while batch.active and steps < 400 and not self.stop.is_set():
                steps += 1
                if not self.step(batch):
                    return
            if not batch.active:
                self.stats.count("programs completed", len(batch.ids))
                self.maybe_run(batch)
        finally:
            self.release(batch.ids, batch)

    def step(self, batch):
        """One step of the loop: mostly Advance, sometimes Rollback, ForkStates or LegalMasks.
        Returns False when the batch is gone (an error already recorded)."""
        r = self.rng.random()
        if batch.masks is None or r < 0.05:
            return self.legal_masks(batch)
        if r < 0.13:
            return self.rollback(batch)
        if r < 0.17 and len(batch.active) < 8:
            return self.fork(batch)
        return self.advance(batch)

    def active_ids(self, batch):
        return [batch.ids[i] for i in batch.active]

    def legal_masks(self, batch):
        resp = self.batch_call(batch, "LegalMasks",
                               pb.LegalMasksRequest(session_ids=self.active_ids(batch)))
        if resp is None:
            return False
        batch.masks = (resp.bitmask, resp.words_per_row, resp.vocab_size)
        return True

    def advance(self, batch):
        bitmask, words, vocab = batch.masks
        picks = []
        for row in range(len(batch.active)):
            legal = legal_tokens(bitmask, row, words, vocab)
            if not legal:  # docs/language.md §7.3: never empty before <eos>
                self.stats.fail("empty mask", f"session {batch.ids[batch.active[row]]}")
                return False
            picks.append(self.rng.choice(legal))
        resp = self.batch_call(batch, "Advance", pb.AdvanceRequest(
            session_ids=self.active_ids(batch), token_ids=picks, return_masks=True))
        if resp is None:
            return False
        for i, tok in zip(batch.active, picks):
            batch.tokens[i].append(tok)
        self.check_states(batch, batch.active, resp.states)
        self.keep_active(batch, resp)
        return True

    def keep_active(self, batch, resp):
        """Drops the sessions that took <eos> from the active list, with their mask rows."""
        words = resp.words_per_row
        still, rows = [], b""
        for k, (i, st) in enumerate(zip(batch.active, resp.states)):
            if st.terminated:
                if not st.complete:
                    self.stats.fail("terminated but not complete", batch.ids[i])
                continue
            still.append(i)
            rows += resp.bitmask[k * words * 4:(k + 1) * words * 4]
        batch.active = still
        batch.masks = (rows, words, resp.vocab_size)

    def check_states(self, batch, indices, states):
        for i, st in zip(indices, states):
            if st.num_tokens != len(batch.tokens[i]):
                self.stats.fail("num_tokens disagrees with the tokens taken",
                                f"{batch.ids[i]}: server {st.num_tokens}, "
                                f"client {len(batch.tokens[i])}")

    def rollback(self, batch):
        counts = [self.rng.randint(0, min(3, len(batch.tokens[i]))) for i in batch.active]
        resp = self.batch_call(batch, "Rollback", pb.RollbackRequest(
            session_ids=self.active_ids(batch), num_tokens=counts, return_masks=True))
        if resp is None:
            return False
        for i, c in zip(batch.active, counts):
            del batch.tokens[i][len(batch.tokens[i]) - c:]
        self.check_states(batch, batch.active, resp.states)
        batch.masks = (resp.bitmask, resp.words_per_row, resp.vocab_size)
        self.stats.count("rollbacks")
        return True

    def fork(self, batch):
        src = self.rng.choice(batch.active)
        resp = self.batch_call(batch, "ForkStates", pb.ForkStatesRequest(
            session_ids=[batch.ids[src]], n=2), [src])
        if resp is None:
            return False
        for st in resp.states:
            batch.named_at.append(time.monotonic())
            batch.ids.append(st.session_id)
            batch.tokens.append(list(batch.tokens[src]))
            batch.starts.append(batch.starts[src])
            batch.active.append(len(batch.ids) - 1)
        self.check_states(batch, batch.active[-2:], resp.states)
        batch.masks = None  # the forks' rows: LegalMasks next
        self.stats.count("forks")
        return True

    def maybe_run(self, batch):
        """Runs a finished FUNCTION or MODULE program by its session id, now and then: a
        decoder-made program never ends invalid_program (docs/language.md §12)."""
        i = self.rng.randrange(len(batch.ids))
        defs = [self.names[t] for t in batch.tokens[i] if self.names[t].startswith("def/")]
        if self.rng.random() > 0.3 or batch.starts[i] not in (pb.START_MODULE, pb.START_FUNCTION):
            return
        arity = int(defs[-1].split("/")[1])
        inputs = [AT(args=[self.rng.randint(-20, 20) for _ in range(arity)]) for _ in range(3)]
        resp = self.batch_call(batch, "Run", pb.RunRequest(session_id=batch.ids[i],
                                                           inputs=inputs), [i])
        bad = [o.status for o in resp.outcomes if o.status not in RUN_STATUSES] if resp else []
        if bad:
            self.stats.fail("Run of a decoded program", f"{batch.ids[i]}: statuses {bad}")

    def release(self, ids, batch=None):
        """Releases sessions. Each must still exist but those of a batch that this client left
        unnamed for close to the TTL (finished sessions wait while the rest of their batch
        decodes; a thread may stall): those may have expired."""
        if not ids:
            return
        now = time.monotonic()
        may_be_gone = 0 if batch is None else len(ids) if batch.lost else sum(
            now - t > 0.8 * self.ttl_s for t in batch.named_at)
        resp, _ = self.call("ReleaseStates", pb.ReleaseStatesRequest(session_ids=ids))
        if resp is None:
            return
        self.stats.count("sessions released", resp.released)
        self.stats.count("sessions expired before their release", len(ids) - resp.released)
        if not len(ids) - may_be_gone <= resp.released <= len(ids):
            self.stats.fail("ReleaseStates", f"released {resp.released} of {len(ids)}, "
                                             f"{may_be_gone} of them possibly expired")

    # ---- sessions left to the TTL --------------------------------------------------------

    def abandon(self):
        """Starts sessions, takes a few tokens, and walks away: the sweeper must evict them.
        Now and then checks that one abandoned well past TTL + sweep answers NOT_FOUND."""
        self.probe_abandoned()
        batch = self.init_batch(self.rng.choice(CONFIGS), self.rng.randint(1, 4))
        if batch is None:
            return
        for _ in range(self.rng.randint(0, 5)):
            if not batch.active or not self.advance(batch):
                break
        now = time.monotonic()
        self.abandoned.extend((sid, now) for sid in batch.ids)
        self.stats.count("sessions abandoned", len(batch.ids))

    def probe_abandoned(self):
        # The sweeper runs every TTL/4; the margin covers a late sweep and a slow client.
        if not self.abandoned or time.monotonic() - self.abandoned[0][1] < 1.5 * self.ttl_s + 1:
            return
        sid, _ = self.abandoned.popleft()
        self.call("LegalMasks", pb.LegalMasksRequest(session_ids=[sid]), expect=(SC.NOT_FOUND,),
                  field="session_ids[0]", what="LegalMasks of an abandoned session")
        self.stats.count("abandoned sessions found evicted")

    # ---- Decode streams ------------------------------------------------------------------

    def decode_request(self, n):
        k = self.rng.randint(1, 3)
        return pb.DecodeRequest(
            init_requests=[R(start=pb.START_FUNCTION, max_len=self.rng.randint(24, 96))
                           for _ in range(k)],
            config=self.rng.choice(CONFIGS), n=n, keep_sessions=self.rng.random() < 0.3,
            sampler=pb.Sampler(kind=self.rng.choice(["uniform", "weighted"]),
                               seed=self.rng.getrandbits(32)))

    def decode_cancelled(self):
        """A Decode stream cancelled after a few results. Its sessions the client saw are
        released; the server frees those it decoded ahead but never sent (keep_sessions;
        tests/server/decode_orphans_test.py). n stays small so that one stream's decoding
        ahead does not dominate the mix."""
        req = self.decode_request(self.rng.randint(16, 128))
        stop_after = self.rng.randint(1, 20)
        stream = self.stub.Decode(req, timeout=DEADLINE)
        kept, seen = [], 0
        try:
            for res in stream:
                kept += [res.session_id] if res.session_id else []
                seen += 1
                if seen >= stop_after:
                    break
            stream.cancel()
            self.stats.count("Decode streams cancelled")
        except grpc.RpcError as e:
            self.decode_error(e)
        self.release(kept)

    def decode_whole(self):
        """A Decode stream read to its end: n results per input, every one complete."""
        req = self.decode_request(self.rng.randint(1, 16))
        got = []
        try:
            got = list(self.stub.Decode(req, timeout=DEADLINE))
        except grpc.RpcError as e:
            self.decode_error(e)
            return
        if len(got) != req.n * len(req.init_requests) or not all(r.complete for r in got):
            self.stats.fail("Decode", f"{len(got)} results for n={req.n} × "
                                      f"{len(req.init_requests)}, complete: "
                                      f"{sum(r.complete for r in got)}")
        self.release([r.session_id for r in got if r.session_id])

    def decode_error(self, e):
        if e.code() == SC.RESOURCE_EXHAUSTED and "streams" in fields_of(e):
            self.stats.count("Decode refused: all streams busy")
        else:
            self.stats.fail("Decode", f"{e.code().name}: {e.details()}")

    # ---- Tokenize, hostile calls, reconnects ---------------------------------------------

    def tokenize_sessions(self):
        """Valid sources through Tokenize with create_sessions: more session churn."""
        srcs = ["def f(a, b):\n    c = a + b\n    return c\n", "def g(a):\n    return a * 2\n"]
        srcs = self.rng.sample(srcs, self.rng.randint(1, 2))
        resp, _ = self.call("Tokenize", pb.TokenizeRequest(
            sources=srcs, start=pb.START_FUNCTION, create_sessions=True,
            max_len=self.rng.randint(16, 128)))
        if resp is None:
            return
        if not all(r.ok and r.session_id for r in resp.results):
            self.stats.fail("Tokenize of valid sources", str(resp.results)[:300])
        self.release([r.session_id for r in resp.results if r.session_id])

    def hostile(self):
        case = hostile.random_case(self.rng)
        resp, code = self.call(case.method, case.request, expect=(case.code,), field=case.field,
                               what=case.name)
        if resp is not None and case.check is not None:
            err = case.check(resp)
            if err:
                self.stats.fail(case.name, err)
        self.stats.count(case.name)

    def reconnect(self):
        self.connect()
        self.stats.count("reconnects")
