// Tokenizer benchmark, reference side: makes the benchmark text (deterministic, a few MB of mixed
// prose, code, numbers and multilingual lines) and times Hugging Face's tokenizers (npm binding of
// the Rust library) encoding it. Run by tokenizer_bench (C++), which prints both sides and the ratio.
//   node tokenizer_bench.mjs make-text OUT.txt [MB]
//   node tokenizer_bench.mjs bench TOKENIZER_JSON TEXT.txt REPS   -> one JSON line of timings
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../tests/reference/package.json'));
const [cmd, ...args] = process.argv.slice(2);

if (cmd === 'make-text') {
  const [out, mb = '4'] = args;
  const corpus = JSON.parse(readFileSync(join(here, '../tests/tokenizers/corpus.json'), 'utf8'));
  const words = ('the of and to in is that for it as was with be by on not he this are or his from at which but have ' +
    'an they you were her all she there would their we him been has when who will more no if out so said what up its ' +
    'about into than them can only other new some could time these two may then do first any my now such like our over ' +
    'man me even most made after also did many before must through back years where much your way well down should ' +
    'because each just those people how too little state good very make world still own see men work long get here ' +
    'between both life being under never day same another know while last might us great old year off come since against ' +
    'tokenizer encoding Unicode normalization vocabulary merges byte-level pre-tokenizer throughput benchmark').split(' ');
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const docs = [];
  let size = 0;
  const target = Number(mb) * 1e6;
  while (size < target) {
    let doc = '';
    const kind = rand();
    if (kind < 0.6) {  // prose
      for (let s = 0; s < 12; ++s) {
        let sent = '';
        const n = 6 + Math.floor(rand() * 18);
        for (let w = 0; w < n; ++w) sent += (w ? ' ' : '') + (rand() < 0.05 ? String(Math.floor(rand() * 100000)) : pick(words));
        doc += sent.charAt(0).toUpperCase() + sent.slice(1) + pick(['. ', '. ', ', and ', '? ', '! ', "'s "]);
      }
    } else if (kind < 0.8) {  // code
      for (let l = 0; l < 15; ++l) {
        doc += '    '.repeat(Math.floor(rand() * 3)) + `${pick(['if', 'for', 'let', 'return', 'def'])} ${pick(words)}_${pick(words)}(${Math.floor(rand() * 1000)}) {\n`;
      }
    } else {  // corpus lines (multilingual, emoji, whitespace)
      for (let k = 0; k < 6; ++k) doc += pick(corpus) + '\n';
    }
    docs.push(doc);
    size += Buffer.byteLength(doc, 'utf8');
  }
  writeFileSync(out, docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  console.log(`wrote ${docs.length} documents, ${(size / 1e6).toFixed(2)} MB to ${out}`);
} else if (cmd === 'bench') {
  const [tokPath, textPath, repsArg = '5'] = args;
  const { Tokenizer } = require('tokenizers');
  const version = require('tokenizers/package.json').version;
  const docs = readFileSync(textPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const bytes = docs.reduce((a, d) => a + Buffer.byteLength(d, 'utf8'), 0);
  let t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(tokPath);
  const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const reps = Number(repsArg);
  let tokens = 0;
  const seq = [], batch = [];
  for (let r = 0; r <= reps; ++r) {  // first round is warm-up
    t0 = process.hrtime.bigint();
    tokens = 0;
    for (const d of docs) tokens += (await tok.encode(d, null, { addSpecialTokens: false })).getLength();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    t0 = process.hrtime.bigint();
    await tok.encodeBatch(docs, { addSpecialTokens: false });
    const b = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r > 0) { seq.push(s); batch.push(b); }
  }
  console.log(JSON.stringify({ reference: `tokenizers@${version}`, bytes, docs: docs.length, tokens, load_s: loadS,
    encode_s: median(seq), batch_s: median(batch) }));
} else {
  console.error('usage: tokenizer_bench.mjs make-text OUT.txt [MB] | bench TOKENIZER_JSON TEXT.txt [REPS]');
  process.exit(2);
}
