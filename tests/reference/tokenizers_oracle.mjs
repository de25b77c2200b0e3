// Reference oracle for the tokenizer tests: runs Hugging Face's own tokenizers (the npm binding of
// the Rust library) on a tokenizer.json over a corpus and prints the expected encodings and
// decodings as JSON on stdout. Usage: node tokenizers_oracle.mjs TOKENIZER_JSON CORPUS_JSON [CONFIG_JSON]
// With CONFIG_JSON (a tokenizer_config.json) the tokenizer is first set up as transformers'
// PreTrainedTokenizerFast does it (see applyTransformersConfig).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer, templateProcessing } = require('tokenizers');
const version = require('tokenizers/package.json').version;

const [tokPath, corpusPath, configPath] = process.argv.slice(2);
if (!tokPath || !corpusPath) {
  console.error('usage: node tokenizers_oracle.mjs TOKENIZER_JSON CORPUS_JSON');
  process.exit(2);
}
const tok = Tokenizer.fromFile(tokPath);
const spec = JSON.parse(readFileSync(tokPath, 'utf8'));
const texts = JSON.parse(readFileSync(corpusPath, 'utf8'));

// transformers (TokenizersBackend.__init__ / update_post_processor): special tokens the config
// names are added when missing; with add_bos_token / add_eos_token in the config (or no
// post-processor) the post-processor becomes TemplateProcessing
// "[bos:0] $A:0 [eos:0]" / "... [bos:1] $B:1 [eos:1]" (absent flag = false; unset token = dropped).
const named = {};
function applyTransformersConfig(cfg) {
  const tokenOf = (v) => (v == null ? null : typeof v === 'string' ? v : v.content);
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const t = tokenOf(cfg[key]);
    if (t == null) continue;
    if (tok.tokenToId(t) == null) tok.addSpecialTokens([t]);
    named[key] = [t, tok.tokenToId(t)];
  }
  if (!('add_bos_token' in cfg || 'add_eos_token' in cfg) && spec.post_processor != null) return;
  const bos = named.bos_token && cfg.add_bos_token ? named.bos_token : null;
  const eos = named.eos_token && cfg.add_eos_token ? named.eos_token : null;
  const single = `${bos ? `${bos[0]}:0 ` : ''}$A:0${eos ? ` ${eos[0]}:0` : ''}`;
  const pair = `${single}${bos ? ` ${bos[0]}:1` : ''} $B:1${eos ? ` ${eos[0]}:1` : ''}`;
  tok.setPostProcessor(templateProcessing(single, pair, [bos, eos].filter((x) => x)));
}
if (configPath) applyTransformersConfig(JSON.parse(readFileSync(configPath, 'utf8')));

// Generated cases: numbers of every length, whitespace runs, long words, the file's own added
// tokens embedded in text.
let digits = '';
for (let n = 1; n <= 40; ++n) {
  digits += String((n * 7) % 10);
  texts.push(digits, `x ${digits} y`, `${digits}.${digits.slice(0, 3)}`);
}
for (const ws of [' ', '\n', '\t', '\r\n', ' \n']) {
  for (const n of [1, 2, 3, 4, 7, 16, 33]) texts.push(ws.repeat(n), `a${ws.repeat(n)}b`, `a${ws.repeat(n)}`);
}
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
let word = '';
for (let i = 0; i < 10000; ++i) word += 'abcdefghijklmnopqrstuvwxyz'[Math.floor(rand() * 26)];
texts.push(word, 'a'.repeat(10000), 'ab'.repeat(5000), `The word ${word} ends here.`, '\u00e9'.repeat(3000),
  '\ud83e\udd16'.repeat(2500), '1'.repeat(10000));
const added = (spec.added_tokens || []).slice(0, 12);
for (const t of added) texts.push(t.content, `x${t.content}y`, ` ${t.content} `, `a ${t.content}b ${t.content}${t.content}`);
if (added.length) texts.push(added.map((t) => t.content).join(' mid '));

const cases = [];
const decodePrefixes = [];
for (const text of texts) {
  const w = await tok.encode(text, null, { addSpecialTokens: true });
  const wo = await tok.encode(text, null, { addSpecialTokens: false });
  const c = {
    text,
    with_special: { ids: w.getIds(), tokens: w.getTokens(), offsets: w.getOffsets() },
    without_special: { ids: wo.getIds(), tokens: wo.getTokens(), offsets: wo.getOffsets() },
    decode: await tok.decode(w.getIds(), false),
    decode_skip: await tok.decode(w.getIds(), true),
  };
  cases.push(c);
  // Partial sequences: every prefix and every single id of short encodings (these cut UTF-8
  // characters that span several byte tokens).
  const ids = c.with_special.ids;
  if (ids.length <= 64 && /[^\x00-\x7f]/.test(text)) {
    for (let k = 1; k < ids.length; ++k) {
      const p = ids.slice(0, k);
      decodePrefixes.push({ ids: p, text: await tok.decode(p, false), text_skip: await tok.decode(p, true) });
    }
    for (const id of new Set(ids)) {
      decodePrefixes.push({ ids: [id], text: await tok.decode([id], false), text_skip: await tok.decode([id], true) });
    }
  }
}
process.stdout.write(JSON.stringify({ reference: `tokenizers@${version}`, named, cases, decode_prefixes: decodePrefixes }));
