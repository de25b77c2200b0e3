// Reference oracle for GGUF models: runs llama.cpp itself, through node-llama-cpp (pinned 3.21.1,
// its prebuilt CPU binaries from @node-llama-cpp/linux-x64; never built from source, never
// downloaded at run time), on token ids, and prints JSON on stdout.
//
// Usage:
//   node llama_cpp_eval.mjs MODEL.gguf --tokens 1,5,9 [--steps N] [options]
//   node llama_cpp_eval.mjs - < request.json
//     request: {"model": PATH, "prompts": [[ids...], ...] (or "tokens": [ids...]), "steps": N,
//               "kv": "f32"|"f16", "flash_attention": "off"|"on"|"auto", "threads": 2}
// Options: --steps N (greedy steps, default 0), --kv f32|f16 (KV cache type, default f32: the
// reference for an f32 model; llama.cpp's own default is f16), --flash-attention off|on|auto
// (default off), --threads N (default 2), --info (print only the llama.cpp build and CPU info).
//
// What node-llama-cpp 3.21.1 exposes: no raw logits. LlamaContextSequence.controlledEvaluate(
// [..., [token, {generateNext: {probabilities: true, token: true, options: {temperature: 0}}}]])
// returns next.probabilities, a Map token -> probability that its addon computes as the float32
// softmax (expf(l - max) / sum) of llama.cpp's logits for that position (llama_get_logits_ith),
// after the sampler chain, which at temperature 0 with no repeat penalty, token bias or grammar is
// only the greedy sampler (it changes no logit). So log(p_i) = logit_i - logsumexp(logits) up to
// float32 rounding of p (relative 2^-24, so ~6e-8 absolute in log p while p is a normal float:
// logit gaps below ~87; p underflows to 0 past ~103, printed as null), and
// log(p_i) - log(p_max) = logit_i - max(logits): the logits up to one constant per position.
// Output per prompt: "logprobs" (log p, vocabulary order), "logits_minus_max" (log p - log p_max),
// "argmax", "greedy" (the n greedy continuation tokens, each fed back; temperature 0) and
// "greedy_logprobs" (log p at the position after each fed-back greedy token but the last).
import { readFileSync, existsSync } from 'node:fs';

function usage(msg) {
  if (msg) console.error(`llama_cpp_eval: ${msg}`);
  console.error('usage: node llama_cpp_eval.mjs MODEL.gguf --tokens 1,2,3 [--steps N] [--kv f32|f16] ' +
    '[--flash-attention off|on|auto] [--threads N]  |  node llama_cpp_eval.mjs - < request.json  |  --info');
  process.exit(2);
}

function parseArgs(argv) {
  if (argv.length === 1 && argv[0] === '-') {
    const req = JSON.parse(readFileSync(0, 'utf8'));
    return {
      model: req.model, prompts: req.prompts ?? (req.tokens ? [req.tokens] : []), steps: req.steps ?? 0,
      kv: req.kv ?? 'f32', fa: req.flash_attention ?? 'off', threads: req.threads ?? 2, info: false,
    };
  }
  const o = { model: null, prompts: [], steps: 0, kv: 'f32', fa: 'off', threads: 2, info: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--tokens') o.prompts.push(next().split(',').filter((s) => s !== '').map(Number));
    else if (a === '--steps') o.steps = Number(next());
    else if (a === '--kv') o.kv = next();
    else if (a === '--flash-attention') o.fa = next();
    else if (a === '--threads') o.threads = Number(next());
    else if (a === '--info') o.info = true;
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (o.model == null) o.model = a;
    else usage(`unexpected argument ${a}`);
  }
  return o;
}

// A dependency's version (its package.json is not among node-llama-cpp's exports).
function packageVersion(name) {
  try {
    const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
    return JSON.parse(readFileSync(url, 'utf8')).version;
  } catch {
    return null;
  }
}

// The ggml CPU backend variant llama.cpp picked for this CPU (ggml loads the best-scoring
// libggml-cpu-<variant>.so of the prebuilt package at run time).
function loadedCpuVariants() {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    return [...new Set([...maps.matchAll(/libggml-cpu-([A-Za-z0-9_]+)\.so/g)].map((m) => m[1]))];
  } catch {
    return [];
  }
}

const opts = parseArgs(process.argv.slice(2));
if (!opts.info) {
  if (!opts.model) usage('no model given');
  if (!existsSync(opts.model)) usage(`no such file: ${opts.model}`);
  if (!opts.prompts.length || opts.prompts.some((p) => !p.length || p.some((t) => !Number.isInteger(t) || t < 0))) {
    usage('each prompt needs at least one non-negative integer token id');
  }
  if (!Number.isInteger(opts.steps) || opts.steps < 0) usage('--steps must be a non-negative integer');
}
const kvType = { f32: 'F32', f16: 'F16' }[String(opts.kv).toLowerCase()];
if (!kvType) usage(`--kv must be f32 or f16, not ${opts.kv}`);
const flashAttention = { off: false, on: true, auto: 'auto' }[String(opts.fa).toLowerCase()];
if (flashAttention === undefined) usage(`--flash-attention must be off, on or auto, not ${opts.fa}`);

const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
const logs = [];
const logger = (level, message) => logs.push(`[${level}] ${message}`.trimEnd());

let llama;
try {
  llama = await getLlama({
    gpu: false, // the CPU build only
    build: 'never', // never compile llama.cpp (that would fetch its sources from GitHub)
    skipDownload: true,
    usePrebuiltBinaries: true,
    progressLogs: false,
    maxThreads: opts.threads,
    logLevel: LlamaLogLevel.warn,
    logger,
  });
} catch (e) {
  console.error(`llama_cpp_eval: node-llama-cpp found no usable prebuilt llama.cpp binary for this machine: ${e?.message ?? e}`);
  if (logs.length) console.error(logs.join('\n'));
  process.exit(3);
}

const build = {
  node_llama_cpp: packageVersion('node-llama-cpp'),
  prebuilt_package: packageVersion('@node-llama-cpp/linux-x64'),
  llama_cpp: llama.llamaCppRelease, // {repo, release}
  build_type: llama.buildType,
  gpu: llama.gpu,
  system_info: llama.systemInfo,
  cpu_math_cores: llama.cpuMathCores,
  max_threads: llama.maxThreads,
};

if (opts.info) {
  build.cpu_variant = loadedCpuVariants();
  console.log(JSON.stringify({ build }, null, 1));
  await llama.dispose();
  process.exit(0);
}

let model;
try {
  model = await llama.loadModel({ modelPath: opts.model, gpuLayers: 0, useMmap: false, checkTensors: true });
} catch (e) {
  console.error(`llama_cpp_eval: llama.cpp failed to load ${opts.model}: ${e?.message ?? e}`);
  if (logs.length) console.error(logs.join('\n'));
  await llama.dispose();
  process.exit(1);
}

const maxLen = Math.max(...opts.prompts.map((p) => p.length)) + opts.steps;
let context;
try {
  context = await model.createContext({
    contextSize: Math.max(maxLen, 32),
    batchSize: Math.max(maxLen, 32),
    sequences: 1,
    threads: opts.threads,
    flashAttention,
    experimentalKvCacheKeyType: kvType,
    experimentalKvCacheValueType: kvType,
  });
} catch (e) {
  console.error(`llama_cpp_eval: llama.cpp failed to create a context for ${opts.model}: ${e?.message ?? e}`);
  if (logs.length) console.error(logs.join('\n'));
  await model.dispose();
  await llama.dispose();
  process.exit(1);
}
const sequence = context.getSequence();

const vocabSize = model.fileInfo?.metadata?.llama?.vocab_size
  ?? model.fileInfo?.metadata?.tokenizer?.ggml?.tokens?.length;

function dense(probMap, n) {
  const lp = new Array(n).fill(null);
  let best = -1;
  let pmax = -1;
  for (const [tok, p] of probMap) {
    if (tok >= n) continue;
    lp[tok] = p > 0 ? Math.log(p) : null;
    if (p > pmax) { pmax = p; best = tok; }
  }
  const lmax = Math.log(pmax);
  return { logprobs: lp, logits_minus_max: lp.map((v) => (v == null ? null : v - lmax)), argmax: best };
}

const greedyNext = { generateNext: { probabilities: true, token: true, options: { temperature: 0 } } };
const results = [];
for (const prompt of opts.prompts) {
  await sequence.clearHistory();
  const bad = prompt.find((t) => t >= vocabSize);
  if (bad !== undefined) {
    console.error(`llama_cpp_eval: token id ${bad} is outside the vocabulary (${vocabSize})`);
    process.exit(2);
  }
  const input = prompt.map((t, i) => (i === prompt.length - 1 ? [t, greedyNext] : t));
  const out = await sequence.controlledEvaluate(input);
  const last = out[prompt.length - 1]?.next;
  if (!last?.probabilities) {
    console.error('llama_cpp_eval: llama.cpp returned no probabilities for the last prompt position');
    process.exit(1);
  }
  const r = { prompt, ...dense(last.probabilities, vocabSize), greedy: [], greedy_logprobs: [] };
  let tok = last.token;
  for (let s = 0; s < opts.steps; s++) {
    if (tok == null) break;
    r.greedy.push(tok);
    if (s + 1 === opts.steps) break;
    const o = await sequence.controlledEvaluate([[tok, greedyNext]]);
    const next = o[0]?.next;
    r.greedy_logprobs.push(dense(next.probabilities, vocabSize).logprobs);
    tok = next.token;
  }
  results.push(r);
}

build.cpu_variant = loadedCpuVariants();
console.log(JSON.stringify({
  build,
  model: { path: opts.model, vocab_size: vocabSize, train_context: model.trainContextSize },
  context: { kv_cache_type: kvType, flash_attention: flashAttention, threads: context.currentThreads ?? opts.threads,
             context_size: context.contextSize },
  logs: logs.filter((l) => !l.startsWith('[debug]')),
  results,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
