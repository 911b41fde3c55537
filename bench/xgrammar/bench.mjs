// XGrammar's side of the step benchmark (bench/xgrammar/run.py drives it).
//
// Loads @mlc-ai/web-xgrammar (XGrammar's WebAssembly build) under Node, compiles the EBNF that
// gen_grammar.py made over a vocabulary of one XGrammar token per astcd token id, and then:
//
//   --check FILE...   correctness of the peer: every token stream in FILE (JSON Lines with
//                     "tokens", e.g. `astcd sample` output) must be accepted token by token,
//                     each token must be in XGrammar's mask, and the matcher must be terminated
//                     at the end. Lines that also carry "masks" (astcd_walk_bench --dump) check
//                     that every astcd-legal token is in XGrammar's mask. On the first
//                     --consistency N states, XGrammar's mask is compared with what
//                     accept_token takes, for every token id (accept, then roll back).
//   --steps N         the random walk: fill the mask, pick a uniformly random legal token,
//                     accept it, until the matcher is terminated (after <eos>) or the walk has
//                     --max-len tokens (XGrammar has no budget: such a walk is cut there). The
//                     matcher is reset between walks, outside the timed region. One hrtime pair
//                     per walk gives one ns/step sample; the median is over walks.
//   --replay FILE     the same steps on astcd's own walks (astcd_walk_bench --dump): mask and
//                     accept of the recorded token, so both engines see the same prefixes.
//   --api binding     (default) calls the Embind object directly: GetNextTokenBitmask,
//                     AcceptToken, IsTerminated, all synchronous. --api public uses the
//                     package's documented wrapper (await getNextTokenBitmask(), acceptToken,
//                     isTerminated), which adds a Promise and a copy per mask.
//
// Writes one JSON object to --out (or stdout); exits 1 if a check fails.
import { createRequire } from "module";
import fs from "fs";
import path from "path";
import { fileURLToPath } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.join(here, "node_modules", "@mlc-ai", "web-xgrammar");
// The WebAssembly memory, captured when the bundle instantiates its module, so that the mask
// can be read straight from the returned std::vector instead of one Embind call per word.
let wasmMemory = null;
{
  const original = WebAssembly.instantiate;
  WebAssembly.instantiate = async function (...args) {
    const r = await original.apply(this, args);
    const instance = r.instance ?? r;
    for (const v of Object.values(instance.exports)) {
      if (v instanceof WebAssembly.Memory) wasmMemory = v;
    }
    return r;
  };
}
// The package is an older UMD bundle: under ESM it needs `require` and `__filename`, and it
// installs itself as globalThis.xgrammar.
globalThis.require = createRequire(import.meta.url);
globalThis.__filename = path.join(pkgDir, "lib", "index.js");
await import(globalThis.__filename);
const xg = globalThis.xgrammar;
if (!xg || !xg.GrammarMatcher) {
  console.error("bench.mjs: @mlc-ai/web-xgrammar did not load");
  process.exit(1);
}
const xgVersion = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")).version;

function parseArgs(argv) {
  const o = { check: [], consistency: 0, steps: 0, warmup: 2000, maxLen: 128, seed: 1,
              api: "binding", replay: null, boundary: 0 };
  for (let i = 2; i < argv.length; ++i) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === "--vocab") o.vocab = v();
    else if (a === "--tokens") o.tokens = v();
    else if (a === "--grammar") o.grammar = v();
    else if (a === "--check") o.check.push(v());
    else if (a === "--consistency") o.consistency = Number(v());
    else if (a === "--steps") o.steps = Number(v());
    else if (a === "--warmup-steps") o.warmup = Number(v());
    else if (a === "--max-len") o.maxLen = Number(v());
    else if (a === "--seed") o.seed = Number(v());
    else if (a === "--api") o.api = v();
    else if (a === "--replay") o.replay = v();
    else if (a === "--boundary-calls") o.boundary = Number(v());
    else if (a === "--out") o.out = v();
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.vocab || !o.tokens || !o.grammar) throw new Error("--vocab, --tokens and --grammar are required");
  if (o.api !== "binding" && o.api !== "public") throw new Error("--api is binding or public");
  return o;
}

// mulberry32: a small seeded PRNG (the walk's randomness only).
function rng32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function popcount32(x) {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function countBits(words) {
  let n = 0;
  for (let w = 0; w < words.length; ++w) n += popcount32(words[w]);
  return n;
}

// The k-th (0-based) set bit of the mask.
function nthBit(words, k) {
  for (let w = 0; w < words.length; ++w) {
    let x = words[w] >>> 0;
    const c = popcount32(x);
    if (k >= c) { k -= c; continue; }
    while (true) {
      const low = x & -x;
      if (k === 0) return w * 32 + (31 - Math.clz32(low));
      x ^= low;
      --k;
    }
  }
  return -1;
}

function hasBit(words, t) {
  return ((words[t >> 5] >>> (t & 31)) & 1) === 1;
}

function percentile(values, p) {
  if (values.length === 0) return 0;
  const v = Float64Array.from(values).sort();
  const pos = p * (v.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, v.length - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

function readJsonl(file) {
  return fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

const opts = parseArgs(process.argv);
const vocab = JSON.parse(fs.readFileSync(opts.vocab, "utf8"));
const tokenStrings = JSON.parse(fs.readFileSync(opts.tokens, "utf8"));
const ebnf = fs.readFileSync(opts.grammar, "utf8");
const V = tokenStrings.length;
const W = (V + 31) >> 5;
const eos = vocab.eos_id;
if (V !== vocab.vocab_size) throw new Error("token list and vocabulary differ in size");

const tCompile0 = process.hrtime.bigint();
const tokenizerInfo = await xg.TokenizerInfo.createTokenizerInfo(tokenStrings, "raw", false, V, [eos]);
const compiler = await xg.GrammarCompiler.createGrammarCompiler(tokenizerInfo);
const compiled = await compiler.compileGrammar(ebnf);
const compileMs = Number(process.hrtime.bigint() - tCompile0) / 1e6;
const matcher = await xg.GrammarMatcher.createGrammarMatcher(compiled);
const h = matcher.handle;  // the Embind GrammarMatcher
const words = new Int32Array(W);
// XGrammar may set the bits past the vocabulary in the last word; they are not tokens.
const lastWordMask = V % 32 === 0 ? -1 : ((1 << (V % 32)) - 1);

let heapBuffer = null, heapU32 = null, heapI32 = null;
// GetNextTokenBitmask (XGrammar's FillNextTokenBitmask into a new std::vector), the words read
// from wasm memory (the vector's begin pointer is its first field), then the vector deleted:
// two Embind calls per mask.
function fillBinding() {
  const vec = h.GetNextTokenBitmask(V);
  if (heapBuffer !== wasmMemory.buffer) {  // the memory may have grown
    heapBuffer = wasmMemory.buffer;
    heapU32 = new Uint32Array(heapBuffer);
    heapI32 = new Int32Array(heapBuffer);
  }
  const begin = heapU32[vec.$$.ptr >> 2] >> 2;
  for (let w = 0; w < W; ++w) words[w] = heapI32[begin + w];
  vec.delete();
  words[W - 1] &= lastWordMask;
}
// The same through Embind's accessors only (used to validate fillBinding).
function fillSlow() {
  const vec = h.GetNextTokenBitmask(V);
  const out = new Int32Array(W);
  for (let w = 0; w < W; ++w) out[w] = vec.get(w);
  vec.delete();
  out[W - 1] &= lastWordMask;
  return out;
}
if (!wasmMemory) {
  console.error("bench.mjs: could not capture the WebAssembly memory");
  process.exit(1);
}
async function fillPublic() {
  const m = await matcher.getNextTokenBitmask();
  for (let w = 0; w < W; ++w) words[w] = m[w];
  words[W - 1] &= lastWordMask;
}

const result = {
  side: "xgrammar",
  xgrammar_package: "@mlc-ai/web-xgrammar",
  xgrammar_version: xgVersion,
  node_version: process.version,
  v8_version: process.versions.v8,
  vocab_size: V,
  grammar_bytes: Buffer.byteLength(ebnf),
  grammar_rules: ebnf.split("\n").filter((l) => l.includes("::=")).length,
  compile_ms: compileMs,
  api: opts.api,
};
let failed = false;

// --- correctness ------------------------------------------------------------------------------
if (opts.check.length > 0) {
  const c = { streams: 0, accepted: 0, tokens: 0, not_in_mask: 0, astcd_legal_not_in_mask: 0,
              consistency_states: 0, consistency_mismatches: 0, failures: [] };
  const fail = (msg) => { if (c.failures.length < (process.env.XG_FAILS ? 100000 : 10)) c.failures.push(msg); };
  for (const file of opts.check) {
    for (const rec of readJsonl(file)) {
      const toks = rec.tokens;
      c.streams += 1;
      h.Reset();
      let ok = true;
      for (let i = 0; i < toks.length && ok; ++i) {
        const t = toks[i];
        fillBinding();
        if (c.tokens < 2000) {
          const slow = fillSlow();
          for (let w = 0; w < W; ++w) {
            if (slow[w] !== words[w]) {
              c.read_mismatches = (c.read_mismatches ?? 0) + 1;
              fail("mask read from wasm memory differs from Embind's vector.get");
            }
          }
        }
        if (rec.masks) {
          const am = rec.masks[i];
          for (let id = 0; id < V; ++id) {
            if (((am[id >> 5] >>> (id & 31)) & 1) && !hasBit(words, id)) {
              c.astcd_legal_not_in_mask += 1;
              fail(`${path.basename(file)} stream ${c.streams - 1} pos ${i}: astcd-legal ${vocab.tokens[id].name} not in XGrammar's mask`);
            }
          }
        }
        if (!hasBit(words, t)) {
          c.not_in_mask += 1;
          fail(`${path.basename(file)} stream ${c.streams - 1} pos ${i}: ${vocab.tokens[t].name} not in XGrammar's mask`);
        }
        if (c.consistency_states < opts.consistency) {
          c.consistency_states += 1;
          for (let id = 0; id < V; ++id) {
            // <pad> is XGrammar's special (empty) token: never legal, and trying it logs a warning.
            const took = id === vocab.pad_id ? false : h.AcceptToken(id, false);
            if (took) h.Rollback(1);
            if (took !== hasBit(words, id)) {
              c.consistency_mismatches += 1;
              fail(`${path.basename(file)} stream ${c.streams - 1} pos ${i}: mask says ${hasBit(words, id)} for ${vocab.tokens[id].name}, accept_token says ${took}`);
            }
          }
        }
        if (!h.AcceptToken(t, false)) {
          ok = false;
          fail(`${path.basename(file)} stream ${c.streams - 1} pos ${i}: accept_token rejected ${vocab.tokens[t].name}`);
        }
        c.tokens += 1;
      }
      if (ok && !h.IsTerminated()) {
        ok = false;
        fail(`${path.basename(file)} stream ${c.streams - 1}: not terminated after its ${toks.length} tokens`);
      }
      if (ok) c.accepted += 1;
    }
  }
  c.ok = c.streams > 0 && c.accepted === c.streams && c.not_in_mask === 0 && !c.read_mismatches &&
         c.astcd_legal_not_in_mask === 0 && c.consistency_mismatches === 0;
  if (!c.ok) failed = true;
  result.check = c;
}

// --- the random walk ----------------------------------------------------------------------------
async function walks(totalSteps, seed, record) {
  const rand = rng32(seed);
  const perWalk = [];
  let steps = 0, capped = 0, terminated = 0, legal = 0, totalNs = 0;
  const cpu0 = process.cpuUsage();
  while (steps < totalSteps) {
    h.Reset();
    let n = 0, tok = -1;
    const t0 = process.hrtime.bigint();
    if (opts.api === "binding") {
      // The matcher terminates exactly when it accepts the stop token, so the loop tests the
      // token rather than calling IsTerminated (checked after the walk, untimed).
      while (n < opts.maxLen) {
        fillBinding();
        tok = nthBit(words, Math.floor(rand() * countBits(words)));
        if (tok < 0 || !h.AcceptToken(tok, false)) throw new Error(`walk: bad token ${tok}`);
        ++n;
        if (tok === eos) break;
      }
    } else {
      while (n < opts.maxLen) {
        await fillPublic();
        tok = nthBit(words, Math.floor(rand() * countBits(words)));
        if (tok < 0 || !matcher.acceptToken(tok)) throw new Error(`walk: bad token ${tok}`);
        ++n;
        if (matcher.isTerminated()) break;
      }
    }
    const ns = Number(process.hrtime.bigint() - t0);
    const ended = h.IsTerminated();
    if (ended !== (tok === eos)) {
      throw new Error("walk: IsTerminated disagrees with the stop token");
    }
    if (ended) terminated += 1; else capped += 1;
    if (record) {
      perWalk.push(ns / n);
      totalNs += ns;
    }
    steps += n;
  }
  const cpu = process.cpuUsage(cpu0);
  if (!record) return null;
  // Mask sizes on a short untimed replay of fresh walks with the same rule.
  const rand2 = rng32(seed ^ 0x9e3779b9);
  let sampled = 0;
  for (let wk = 0; wk < 50; ++wk) {
    h.Reset();
    for (let n = 0; n < opts.maxLen; ++n) {
      fillBinding();
      const k = countBits(words);
      legal += k;
      sampled += 1;
      h.AcceptToken(nthBit(words, Math.floor(rand2() * k)), false);
      if (h.IsTerminated()) break;
    }
  }
  return {
    steps, walks: perWalk.length, terminated, capped,
    tokens_per_walk_mean: steps / perWalk.length,
    ns_per_step_median: percentile(perWalk, 0.5),
    ns_per_step_p10: percentile(perWalk, 0.1),
    ns_per_step_p90: percentile(perWalk, 0.9),
    ns_per_step_mean: totalNs / steps,
    // Process CPU time (user + system, all threads) over all walks, resets included.
    cpu_ns_per_step_mean: ((cpu.user + cpu.system) * 1000) / steps,
    legal_per_step_mean: legal / sampled,
  };
}

if (opts.steps > 0) {
  await walks(opts.warmup, opts.seed + 1000003, false);  // JIT and caches warm, untimed
  result.walk = await walks(opts.steps, opts.seed, true);
}

// --- replay of astcd's walks --------------------------------------------------------------------
if (opts.replay) {
  const recs = readJsonl(opts.replay);
  const run = (record) => {
    const perWalk = [];
    let steps = 0, totalNs = 0, legalX = 0, legalA = 0;
    for (const rec of recs) {
      const toks = rec.tokens;
      h.Reset();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < toks.length; ++i) {
        fillBinding();
        if (!h.AcceptToken(toks[i], false)) throw new Error("replay: XGrammar rejected an astcd token");
      }
      const ns = Number(process.hrtime.bigint() - t0);
      if (record) {
        perWalk.push(ns / toks.length);
        totalNs += ns;
      }
      steps += toks.length;
    }
    if (!record) return null;
    for (const rec of recs.slice(0, 50)) {  // mask sizes, untimed
      h.Reset();
      rec.tokens.forEach((t, i) => {
        fillBinding();
        legalX += countBits(words);
        legalA += countBits(rec.masks ? rec.masks[i] : []);
        h.AcceptToken(t, false);
      });
    }
    const sampled = recs.slice(0, 50).reduce((s, r) => s + r.tokens.length, 0);
    return {
      steps, walks: perWalk.length,
      ns_per_step_median: percentile(perWalk, 0.5),
      ns_per_step_p10: percentile(perWalk, 0.1),
      ns_per_step_p90: percentile(perWalk, 0.9),
      ns_per_step_mean: totalNs / steps,
      xgrammar_legal_per_step_mean: legalX / sampled,
      astcd_legal_per_step_mean: legalA / sampled,
    };
  };
  run(false);  // warm-up pass
  result.replay = run(true);
}

// --- the cost of one call across the JS/WebAssembly boundary ----------------------------------
// IsTerminated only reads a flag, so its cost is the Embind call itself. Batches of 1000 calls;
// the median batch, so that a batch the scheduler interrupted does not count.
if (opts.boundary > 0) {
  h.Reset();
  let x = 0;
  for (let i = 0; i < 10000; ++i) x += h.IsTerminated() ? 1 : 0;
  const batches = [];
  for (let b = 0; b < Math.max(1, Math.floor(opts.boundary / 1000)); ++b) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1000; ++i) x += h.IsTerminated() ? 1 : 0;
    batches.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  result.boundary_ns_per_call = percentile(batches, 0.5);
  if (x < 0) console.error(x);
}

// XGrammar logs its warnings on stdout, so the result goes to --out when it is given.
if (opts.out) fs.writeFileSync(opts.out, JSON.stringify(result) + "\n");
else process.stdout.write(JSON.stringify(result) + "\n");
process.exit(failed ? 1 : 0);
