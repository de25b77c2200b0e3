// Prefill and decode throughput of llama.cpp on a GGUF file, through node-llama-cpp 3.21.1 (its
// prebuilt CPU binaries from tests/reference/node_modules; never built, never downloaded), on the
// token ids bench/decode_bench.cpp uses ((7 i + 3) mod vocab). bench/gguf_compare.py runs it
// against Lazarus's decode_bench. Prints one JSON line.
//
// Usage: node bench/llama_cpp_bench.mjs --model FILE.gguf [--prefill-len 512] [--decode-prompt 128]
//          [--new-tokens 128] [--rounds 1] [--threads 2] [--batch 512] [--api low|high|both]
//          [--flash-attention auto|on|off] [--kv f16|f32] [--no-mmap]
//
// Per round (after one untimed warm-up round in the same process):
//   prefill: the --prefill-len prompt evaluated in one llama_decode batch (n_batch = n_ubatch =
//            --batch) with logits for its last position, then one greedy sample; tokens/s = prompt
//            length / that wall time (decode_bench's prefill_seconds: forward + first sample).
//   decode:  the KV cache cleared, the --decode-prompt prompt evaluated and the first token
//            sampled (untimed), then --new-tokens - 1 steps of (llama_decode of the sampled token,
//            greedy sample) timed; tokens/s = steps / wall time (decode_bench's decode_seconds).
// --api low (default) drives the addon that LlamaContextSequence.evaluate itself uses underneath
// (LlamaContext._ctx: initBatch / addToBatch / decodeBatch = llama_decode + llama_synchronize on
// a libuv worker thread / sampleToken = the sampler chain, here only llama.cpp's greedy sampler):
// the same llama.cpp calls without node-llama-cpp's batch queue and generator in between.
// --api high uses the public LlamaContextSequence.evaluate(tokens, {temperature: 0}) generator
// (prefill = until its first token; decode = the following tokens). --api both times both and
// reports the faster of each (and each separately).
// llama.cpp's own counters (performanceTracking: llama_perf_context: prompt eval / eval time) are
// reported as "llama_perf" for the last timed round.
import { readFileSync, existsSync } from 'node:fs';

const MODULES = new URL('../tests/reference/node_modules/', import.meta.url);

function usage(msg) {
  if (msg) console.error(`llama_cpp_bench: ${msg}`);
  console.error('usage: node llama_cpp_bench.mjs --model FILE.gguf [--prefill-len 512] [--decode-prompt 128] ' +
    '[--new-tokens 128] [--rounds 1] [--threads 2] [--batch 512] [--api low|high|both] ' +
    '[--flash-attention auto|on|off] [--kv f16|f32] [--no-mmap]');
  process.exit(2);
}

const o = { model: null, prefill: 512, dprompt: 128, newTokens: 128, rounds: 1, threads: 2, batch: 512,
  api: 'low', fa: 'auto', kv: 'f16', mmap: true };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const next = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
  if (a === '--model') o.model = next();
  else if (a === '--prefill-len') o.prefill = Number(next());
  else if (a === '--decode-prompt') o.dprompt = Number(next());
  else if (a === '--new-tokens') o.newTokens = Number(next());
  else if (a === '--rounds') o.rounds = Number(next());
  else if (a === '--threads') o.threads = Number(next());
  else if (a === '--batch') o.batch = Number(next());
  else if (a === '--api') o.api = next();
  else if (a === '--flash-attention') o.fa = next();
  else if (a === '--kv') o.kv = next();
  else if (a === '--no-mmap') o.mmap = false;
  else usage(`unknown argument ${a}`);
}
if (!o.model || !existsSync(o.model)) usage(`no model file ${o.model}`);
for (const k of ['prefill', 'dprompt', 'rounds', 'threads', 'batch']) {
  if (!Number.isInteger(o[k]) || o[k] < 1) usage(`${k} must be a positive integer`);
}
if (!Number.isInteger(o.newTokens) || o.newTokens < 2) usage('--new-tokens must be >= 2');
if (!['low', 'high', 'both'].includes(o.api)) usage('--api low|high|both');
const flashAttention = { off: false, on: true, auto: 'auto' }[o.fa];
if (flashAttention === undefined) usage('--flash-attention auto|on|off');
const kvType = { f16: 'F16', f32: 'F32' }[o.kv];
if (!kvType) usage('--kv f16|f32');

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(new URL(`${name}/package.json`, MODULES), 'utf8')).version;
  } catch {
    return null;
  }
}

function loadedCpuVariants() {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    return [...new Set([...maps.matchAll(/libggml-cpu-([A-Za-z0-9_]+)\.so/g)].map((m) => m[1]))];
  } catch {
    return [];
  }
}

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';
const { getLlama, LlamaLogLevel } = await import(new URL('node-llama-cpp/dist/index.js', MODULES).href);
const logs = [];
const llama = await getLlama({
  gpu: false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, progressLogs: false,
  maxThreads: o.threads, logLevel: LlamaLogLevel.info, logger: (level, message) => logs.push(`${message}`.trimEnd()),
});

const tLoad0 = performance.now();
const model = await llama.loadModel({ modelPath: o.model, gpuLayers: 0, useMmap: o.mmap });
const loadS = (performance.now() - tLoad0) / 1e3;
const V = model.fileInfo?.metadata?.llama?.vocab_size ?? model.fileInfo?.metadata?.tokenizer?.ggml?.tokens?.length;
const need = Math.max(o.prefill, o.dprompt + o.newTokens);
const context = await model.createContext({
  contextSize: need, batchSize: Math.max(o.batch, Math.min(o.prefill, o.batch)), sequences: 1,
  threads: o.threads, flashAttention, experimentalKvCacheKeyType: kvType, experimentalKvCacheValueType: kvType,
  performanceTracking: true,
});
if (o.prefill > context.batchSize) console.error(`note: prefill ${o.prefill} > batch ${context.batchSize}: several llama_decode calls`);
const sequence = context.getSequence();

const promptOf = (n) => Array.from({ length: n }, (_, i) => (7 * i + 3) % V);
const prefillPrompt = promptOf(o.prefill);
const decodePrompt = promptOf(o.dprompt);

// ---- the addon path (what sequence.evaluate drives underneath)
const ctx = context._ctx;
const seqId = sequence._sequenceId;
const sampler = new llama._bindings.AddonSampler(model._model);
sampler.applyConfig({ temperature: 0 });

async function lowEval(tokens, firstPos) {
  // tokens in batches of at most batchSize; logits for the last one; returns the greedy token
  let idx = null;
  for (let s = 0; s < tokens.length; s += context.batchSize) {
    const part = tokens.slice(s, s + context.batchSize);
    const last = s + part.length === tokens.length;
    ctx.initBatch(part.length);
    idx = ctx.addToBatch(seqId, firstPos + s, Uint32Array.from(part), Uint32Array.from(last ? [part.length - 1] : []));
    await ctx.decodeBatch();
  }
  return ctx.sampleToken(idx[0], sampler);
}

async function lowPrefill(prompt) {
  ctx.disposeSequence(seqId);
  const t0 = performance.now();
  const tok = await lowEval(prompt, 0);
  return { seconds: (performance.now() - t0) / 1e3, first: tok };
}

async function lowDecode(prompt, n) {
  ctx.disposeSequence(seqId);
  let tok = await lowEval(prompt, 0);
  const out = [tok];
  const t0 = performance.now();
  for (let i = 1; i < n; i++) {
    tok = await lowEval([tok], prompt.length + i - 1);
    out.push(tok);
  }
  return { seconds: (performance.now() - t0) / 1e3, tokens: out };
}

// ---- the public API
async function highPrefill(prompt) {
  await sequence.clearHistory();
  const t0 = performance.now();
  const it = sequence.evaluate(prompt, { temperature: 0 });
  const first = (await it.next()).value;
  const seconds = (performance.now() - t0) / 1e3;
  await it.return();
  return { seconds, first };
}

async function highDecode(prompt, n) {
  await sequence.clearHistory();
  const it = sequence.evaluate(prompt, { temperature: 0 });
  const out = [(await it.next()).value];
  const t0 = performance.now();
  for (let i = 1; i < n; i++) out.push((await it.next()).value);
  const seconds = (performance.now() - t0) / 1e3;
  await it.return();
  return { seconds, tokens: out };
}

async function perfCounters() {
  // llama_perf_context_print: "prompt eval time = X ms / N tokens", "eval time = X ms / N runs"
  // (logged through node-llama-cpp's thread-safe log callback: give it a moment to arrive)
  logs.length = 0;
  ctx.printTimings();
  for (let i = 0; i < 20 && !logs.some((l) => /\beval time/.test(l) && !/prompt eval/.test(l)); i++) {
    await new Promise((res) => setTimeout(res, 5));
  }
  const text = logs.join('\n');
  const pe = text.match(/prompt eval time =\s*([\d.]+) ms \/\s*(\d+) tokens/);
  const ev = text.match(/\beval time =\s*([\d.]+) ms \/\s*(\d+) runs/);
  return {
    prompt_eval_ms: pe ? Number(pe[1]) : null, prompt_eval_tokens: pe ? Number(pe[2]) : null,
    eval_ms: ev ? Number(ev[1]) : null, eval_runs: ev ? Number(ev[2]) : null,
  };
}

const apis = o.api === 'both' ? ['low', 'high'] : [o.api];
const best = {};
let greedy = null;
let perf = null;
for (const api of apis) {
  // the low path bypasses the sequence's bookkeeping: leave the KV cache empty for the other
  ctx.disposeSequence(seqId);
  await sequence.clearHistory();
  const prefill = api === 'low' ? lowPrefill : highPrefill;
  const decode = api === 'low' ? lowDecode : highDecode;
  let bp = Infinity;
  let bd = Infinity;
  for (let r = 0; r < o.rounds + 1; r++) { // round 0 warms up
    const p = await prefill(prefillPrompt);
    const pp = await perfCounters();
    const d = await decode(decodePrompt, o.newTokens);
    const dp = await perfCounters();
    if (process.env.LLAMA_CPP_BENCH_VERBOSE) {
      console.error(`${api} round ${r}: prefill ${p.seconds.toFixed(3)} s, decode ${d.seconds.toFixed(3)} s`, pp, dp);
    }
    if (r === 0) continue;
    bp = Math.min(bp, p.seconds);
    bd = Math.min(bd, d.seconds);
    greedy = d.tokens;
    perf = {
      prefill_prompt_eval_ms: pp.prompt_eval_ms, prefill_prompt_eval_tokens: pp.prompt_eval_tokens,
      decode_eval_ms: dp.eval_ms, decode_eval_runs: dp.eval_runs,
      decode_prompt_eval_ms: dp.prompt_eval_ms,
    };
  }
  best[api] = { prefill_tokens_per_s: o.prefill / bp, decode_tokens_per_s: (o.newTokens - 1) / bd };
}
const pick = (k) => Math.max(...apis.map((a) => best[a][k]));

console.log(JSON.stringify({
  impl: 'llama.cpp', api: o.api, threads: o.threads, prompt_tokens: o.prefill, decode_prompt_tokens: o.dprompt,
  new_tokens: o.newTokens, load_s: loadS,
  prefill_tokens_per_s: pick('prefill_tokens_per_s'), decode_tokens_per_s: pick('decode_tokens_per_s'),
  per_api: best, llama_perf: perf,
  node_llama_cpp: packageVersion('node-llama-cpp'), llama_cpp: llama.llamaCppRelease,
  cpu_variant: loadedCpuVariants(),
  context: {
    context_size: context.contextSize, batch_size: context.batchSize, flash_attention: context.flashAttention,
    kv_cache_type: kvType, threads: context.currentThreads, mmap: o.mmap,
  },
  greedy,
}));
sampler.dispose();
await context.dispose();
await model.dispose();
await llama.dispose();
