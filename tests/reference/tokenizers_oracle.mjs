// Reference oracle for the tokenizer tests: runs Hugging Face's own tokenizers (the npm binding of
// the Rust library) on a tokenizer.json over a corpus and prints the expected encodings and
// decodings as JSON on stdout. Usage: node tokenizers_oracle.mjs TOKENIZER_JSON CORPUS_JSON
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const version = require('tokenizers/package.json').version;

const [tokPath, corpusPath] = process.argv.slice(2);
if (!tokPath || !corpusPath) {
  console.error('usage: node tokenizers_oracle.mjs TOKENIZER_JSON CORPUS_JSON');
  process.exit(2);
}
const tok = Tokenizer.fromFile(tokPath);
const spec = JSON.parse(readFileSync(tokPath, 'utf8'));
const texts = JSON.parse(readFileSync(corpusPath, 'utf8'));

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
    with_special: { ids: w.getIds(), tokens: w.getTokens() },
    without_special: { ids: wo.getIds(), tokens: wo.getTokens() },
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
process.stdout.write(JSON.stringify({ reference: `tokenizers@${version}`, cases, decode_prefixes: decodePrefixes }));
