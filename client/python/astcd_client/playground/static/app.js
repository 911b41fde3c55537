// The astcd playground page. It knows no language: the legal tokens are the server's mask,
// the source is the server's Detokenize (partial), a run is the server's Run, and the token
// kinds are the vocabulary's own. Every call goes to the gateway (/api/NAME, one Client call).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  // The open holes of a partial source, as Detokenize prints them (docs/api.md).
  const HOLE = /<(?:def|stmt|expr|name)>/g;

  const state = {
    vocab: null, vocabKey: null, session: null, tokens: [], legal: [],
    config: {}, start: "module", arity: null, maxLen: 0, lastTokenize: null,
  };
  let pending = 0;
  let queue = Promise.resolve();

  // -- the gateway ------------------------------------------------------------------------

  async function api(name, body) {
    const resp = await fetch("/api/" + name, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok || data === null) {
      throw (data && data.error) ||
        { code: "HTTP_" + resp.status, message: resp.statusText, field_violations: [] };
    }
    return data;
  }

  function errorText(err) {
    if (!err || typeof err !== "object" || !("code" in err)) return String(err);
    let s = err.code + ": " + err.message;
    for (const v of err.field_violations || []) s += "\n  " + v.field + ": " + v.description;
    return s;
  }

  function showError(err) {
    const box = $("error");
    if (err === null) { box.hidden = true; box.textContent = ""; return; }
    box.hidden = false;
    box.textContent = errorText(err);
  }

  // Actions run one at a time, in order; body[data-busy] says whether one is running.
  function act(fn) {
    pending += 1;
    document.body.dataset.busy = "true";
    queue = queue.then(async () => {
      try { showError(null); await fn(); } catch (err) { showError(err); } finally {
        pending -= 1;
        if (pending === 0) document.body.dataset.busy = "false";
      }
    });
    return queue;
  }

  // -- the form ---------------------------------------------------------------------------

  function intOf(text, what) {
    const t = String(text).trim();
    if (!/^[-+]?\d+$/.test(t)) throw { code: "INVALID_INPUT", message: what + ": not an integer: " + JSON.stringify(t), field_violations: [] };
    return parseInt(t, 10);
  }

  function readConfig() {
    const config = {};
    for (const el of document.querySelectorAll("[data-field]")) {
      const field = el.dataset.field;
      const type = el.dataset.type;
      if (type === "bool") { if (el.checked) config[field] = true; continue; }
      const v = el.value.trim();
      if (v === "") continue;
      if (type === "int") config[field] = intOf(v, field);
      else if (type === "list") config[field] = v.split(/[\s,]+/).filter((x) => x).map((x) => intOf(x, field));
      else if (type === "range") {
        const parts = v.split(/[\s,]+/).filter((x) => x);
        if (parts.length !== 2) throw { code: "INVALID_INPUT", message: field + ": write lo,hi", field_violations: [] };
        config[field] = { lo: intOf(parts[0], field), hi: intOf(parts[1], field) };
      }
    }
    return config;
  }

  function readForm() {
    state.config = readConfig();
    state.start = $("start").value;
    state.arity = $("arity").value.trim() === "" ? null : intOf($("arity").value, "arity");
    state.maxLen = $("max-len").value.trim() === "" ? 0 : intOf($("max-len").value, "max_len");
    $("config-json").textContent = JSON.stringify(state.config);
  }

  function where() {
    return { config: state.config, start: state.start, arity: state.arity };
  }

  // -- the program ------------------------------------------------------------------------

  async function ensureVocab() {
    const key = JSON.stringify(state.config);
    if (state.vocabKey === key) return;
    state.vocab = await api("vocabulary", { config: state.config });
    state.vocabKey = key;
    renderLegend();
  }

  function releaseSession() {
    if (state.session) {
      const id = state.session.session_id;
      state.session = null;
      api("release", { session_ids: [id] }).catch(() => {});
    }
  }

  async function startProgram(prefix) {
    readForm();
    releaseSession();
    state.tokens = [];
    state.legal = [];
    await ensureVocab();
    const r = await api("init_states", Object.assign(where(), {
      max_len: state.maxLen, prefix_tokens: prefix || [],
    }));
    state.session = r.session;
    state.tokens = (prefix || []).slice();
    state.legal = r.legal;
    await refreshSource();
  }

  async function refreshSource() {
    const r = await api("detokenize", Object.assign(where(), { tokens: state.tokens, partial: true }));
    if (!r.ok) throw { code: "DETOKENIZE", message: r.error, field_violations: [] };
    renderSource(r.source);
    render();
  }

  async function choose(token) {
    const r = await api("advance", { session_id: state.session.session_id, token: token });
    state.session = r.session;
    state.tokens.push(token);
    state.legal = r.legal;
    await refreshSource();
  }

  async function undo() {
    if (state.tokens.length === 0) return;
    const r = await api("rollback", { session_id: state.session.session_id, num_tokens: 1 });
    state.session = r.session;
    state.tokens.pop();
    state.legal = r.legal;
    await refreshSource();
  }

  async function sampleRest() {
    const seed = intOf($("seed").value || "0", "seed");
    const r = await api("decode", {
      session_id: state.session.session_id, sampler: $("sampler").value, seed: seed,
    });
    releaseSession();
    state.session = r.session;
    state.tokens = r.tokens.slice();
    const m = await api("legal_masks", { session_id: state.session.session_id });
    state.legal = m.legal;
    await refreshSource();
  }

  // -- rendering --------------------------------------------------------------------------

  function tokenInfo(id) {
    const t = state.vocab && state.vocab.tokens[id];
    return t || { id: id, name: String(id), kind: "unknown" };
  }

  function renderLegend() {
    const legend = $("legend");
    legend.textContent = "";
    const seen = [];
    for (const t of state.vocab.tokens) if (!seen.includes(t.kind)) seen.push(t.kind);
    for (const kind of seen) {
      const s = document.createElement("span");
      s.className = "swatch kind-" + kind;
      s.textContent = kind;
      legend.appendChild(s);
    }
  }

  function renderSource(source) {
    const pre = $("source");
    pre.textContent = "";
    let last = 0;
    for (const m of source.matchAll(HOLE)) {
      if (m.index > last) pre.appendChild(document.createTextNode(source.slice(last, m.index)));
      const hole = document.createElement("span");
      hole.className = "hole";
      hole.textContent = m[0];
      pre.appendChild(hole);
      last = m.index + m[0].length;
    }
    if (last < source.length) pre.appendChild(document.createTextNode(source.slice(last)));
    pre.dataset.tokens = JSON.stringify(state.tokens);
    pre.dataset.start = state.start;
  }

  function render() {
    const s = state.session;
    const status = $("status");
    const complete = !!(s && s.complete);
    status.textContent = complete ? "complete" : "open";
    status.dataset.complete = String(complete);
    status.dataset.terminated = String(!!(s && s.terminated));
    status.dataset.sessionId = s ? s.session_id : "";
    $("info").textContent = s
      ? state.tokens.length + " tokens, " + s.token_budget_remaining + " left in the budget" +
        (s.terminated ? ", ended" : "")
      : "";

    const chips = $("tokens");
    chips.textContent = "";
    state.tokens.forEach((id, k) => {
      const t = tokenInfo(id);
      const c = document.createElement("span");
      c.className = "chip kind-" + t.kind;
      c.dataset.tokenId = String(id);
      c.dataset.step = String(k + 1);
      c.textContent = t.name;
      chips.appendChild(c);
    });

    const box = $("legal");
    box.textContent = "";
    for (const id of state.legal) {
      const t = tokenInfo(id);
      const b = document.createElement("button");
      b.type = "button";
      b.className = "tok kind-" + t.kind;
      b.dataset.tokenId = String(id);
      b.dataset.tokenName = t.name;
      b.dataset.kind = t.kind;
      b.title = t.kind + " (id " + id + ")";
      b.textContent = t.name;
      b.addEventListener("click", () => act(() => choose(id)));
      box.appendChild(b);
    }
    $("legal-count").textContent = "(" + state.legal.length + ")";
    $("undo").disabled = state.tokens.length === 0;
    $("sample").disabled = !s || s.terminated;
  }

  function py(v) {
    if (v === true) return "True";
    if (v === false) return "False";
    if (v === null || v === undefined) return "None";
    return String(v);
  }

  // -- run and tokenize -------------------------------------------------------------------

  function parseInputs(text) {
    const out = [];
    for (const raw of text.split(/[;\n]/)) {
      const line = raw.trim().replace(/^\(/, "").replace(/\)$/, "").trim();
      if (raw.trim() === "") continue;
      out.push(line === "" ? [] : line.split(/[\s,]+/).filter((x) => x).map((x) => intOf(x, "arguments")));
    }
    return out;
  }

  async function run() {
    const box = $("run-outcome");
    box.textContent = "";
    box.dataset.outcomes = "";
    $("run-trace").textContent = "";
    const inputs = parseInputs($("run-args").value);
    const entry = $("run-entry").value.trim() === "" ? null : intOf($("run-entry").value, "entry");
    let r;
    try {
      r = await api("run", Object.assign(where(), {
        tokens: state.tokens, inputs: inputs, entry: entry, trace: $("run-trace-on").checked,
      }));
    } catch (err) {
      box.textContent = errorText(err);
      box.dataset.error = err.code || "error";
      return;
    }
    delete box.dataset.error;
    const plain = r.outcomes.map((o) => ({ status: o.status, value: o.value, steps: o.steps, message: o.message }));
    box.dataset.outcomes = JSON.stringify(plain);
    r.outcomes.forEach((o, k) => {
      const row = document.createElement("div");
      row.className = "outcome status-" + o.status;
      const args = "(" + inputs[k].join(", ") + ")";
      row.textContent = args + " \u2192 " + (o.status === "ok" ? py(o.value) : o.status) +
        " (" + o.steps + " steps)" + (o.message ? ": " + o.message : "");
      box.appendChild(row);
    });
    const first = r.outcomes[0];
    if (first && first.trace) {
      const lines = first.trace.map((e) => {
        let s = "line " + e.line + ":";
        for (const [name, value] of e.assigned) s += " " + name + " = " + py(value);
        if ("returned" in e) s += " return " + py(e.returned);
        return s;
      });
      $("run-trace").textContent = "trace of (" + inputs[0].join(", ") + "):\n" + lines.join("\n");
    }
  }

  async function tokenize() {
    const box = $("tokenize-result");
    box.textContent = "";
    state.lastTokenize = null;
    $("tokenize-load").disabled = true;
    const r = await api("tokenize", Object.assign(where(), {
      source: $("tokenize-input").value, partial: $("tokenize-partial").checked, max_len: state.maxLen,
    }));
    box.dataset.ok = String(r.ok);
    if (!r.ok) {
      const e = r.error || {};
      box.dataset.stage = e.stage || "";
      box.dataset.line = String(e.line);
      box.dataset.column = String(e.column);
      const head = document.createElement("div");
      head.className = "tokenize-error";
      head.textContent = (e.stage || "error") + " error at line " + e.line + ", column " + e.column +
        (e.node_type ? " (" + e.node_type + ")" : "") + ": " + e.message;
      box.appendChild(head);
      return;
    }
    box.dataset.tokens = JSON.stringify(r.tokens);
    const head = document.createElement("div");
    head.textContent = "ok: " + r.tokens.length + " tokens" + (r.complete ? ", complete" : ", open");
    box.appendChild(head);
    const chips = document.createElement("div");
    chips.className = "chips";
    for (const id of r.tokens) {
      const t = tokenInfo(id);
      const c = document.createElement("span");
      c.className = "chip kind-" + t.kind;
      c.dataset.tokenId = String(id);
      c.textContent = t.name;
      chips.appendChild(c);
    }
    box.appendChild(chips);
    const pre = document.createElement("pre");
    pre.className = "normalized";
    pre.textContent = r.normalized_source;
    box.appendChild(pre);
    state.lastTokenize = r.tokens;
    $("tokenize-load").disabled = false;
  }

  // -- wiring -----------------------------------------------------------------------------

  function init() {
    $("undo").addEventListener("click", () => act(undo));
    $("new").addEventListener("click", () => act(() => startProgram([])));
    $("apply").addEventListener("click", () => act(() => startProgram([])));
    $("start").addEventListener("change", () => act(() => startProgram([])));
    $("sample").addEventListener("click", () => act(sampleRest));
    $("run").addEventListener("click", () => act(run));
    $("tokenize").addEventListener("click", () => act(async () => { readForm(); await ensureVocab(); await tokenize(); }));
    $("tokenize-load").addEventListener("click", () => act(() => startProgram(state.lastTokenize || [])));
    // Leaving the page: a keepalive fetch still gets there (the TTL frees the session
    // otherwise). Not sendBeacon: it can only send text/plain, and the gateway takes JSON only.
    window.addEventListener("pagehide", () => {
      if (!state.session) return;
      const body = JSON.stringify({ session_ids: [state.session.session_id] });
      state.session = null;
      fetch("/api/release", {
        method: "POST", keepalive: true, headers: { "Content-Type": "application/json" }, body: body,
      }).catch(() => {});
    });
    // Back from the back/forward cache: the session went with pagehide, so start a new program.
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) act(() => startProgram([]));
    });
    act(() => startProgram([]));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
