// CLI check for `lazarus tokenize` / `lazarus detokenize`: runs the binary on a JSONL file and on
// single texts, compares with Hugging Face's tokenizers (npm) at test time (ids, tokens and
// --offsets), and checks that bad
// input exits non-zero with a message. Usage: node tokenize_cli_check.mjs LAZARUS_BIN TOKENIZER_DIR
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const [bin, dir] = process.argv.slice(2);
const ref = Tokenizer.fromFile(join(dir, 'tokenizer.json'));
let failures = 0;
const check = (ok, what) => { if (!ok) { ++failures; console.error('FAIL:', what); } };

const texts = ['Hello world', "It's 2024!\n\tcode()", '\u4f60\u597d \ud83d\udc4d\ud83c\udffd', '', '  ', '<|begin_of_text|>x<|eot_id|>'];
const tmp = mkdtempSync(join(tmpdir(), 'lazarus-cli-'));
const jsonl = join(tmp, 'in.jsonl');
writeFileSync(jsonl, texts.map((t, i) => JSON.stringify(i % 2 ? { text: t, add_special_tokens: false } : { text: t })).join('\n') + '\n');
const lines = execFileSync(bin, ['tokenize', '--tokenizer', dir, '--offsets', '--jsonl', jsonl], { encoding: 'utf8' }).trim().split('\n');
check(lines.length === texts.length, `--jsonl printed ${lines.length} lines for ${texts.length} inputs`);
for (let i = 0; i < texts.length; ++i) {
  const want = await ref.encode(texts[i], null, { addSpecialTokens: i % 2 === 0 });
  const got = JSON.parse(lines[i]);
  check(JSON.stringify(got.ids) === JSON.stringify(want.getIds()), `jsonl ids for ${JSON.stringify(texts[i])}: ${JSON.stringify(got.ids)} vs ${JSON.stringify(want.getIds())}`);
  check(JSON.stringify(got.tokens) === JSON.stringify(want.getTokens()), `jsonl tokens for ${JSON.stringify(texts[i])}`);
  check(JSON.stringify(got.offsets) === JSON.stringify(want.getOffsets()), `--offsets for ${JSON.stringify(texts[i])}: ${JSON.stringify(got.offsets)} vs ${JSON.stringify(want.getOffsets())}`);
}
for (const [args, special] of [[[], true], [['--no-special'], false]]) {
  const got = JSON.parse(execFileSync(bin, ['tokenize', '--tokenizer', join(dir, 'tokenizer.json'), ...args, texts[1]], { encoding: 'utf8' }));
  const want = await ref.encode(texts[1], null, { addSpecialTokens: special });
  check(JSON.stringify(got.ids) === JSON.stringify(want.getIds()), `tokenize ${args} ids`);
  check(!('offsets' in got), `tokenize ${args} without --offsets prints no offsets`);
  const ids = want.getIds().map(String);
  for (const skip of [false, true]) {
    const out = execFileSync(bin, ['detokenize', '--tokenizer', dir, ...(skip ? ['--skip-special'] : []), ...ids], { encoding: 'utf8' });
    check(out === (await ref.decode(want.getIds(), skip)) + '\n', `detokenize skip=${skip}: ${JSON.stringify(out)}`);
    const streamed = execFileSync(bin, ['detokenize', '--stream', '--tokenizer', dir, ...(skip ? ['--skip-special'] : []), `[${ids.join(', ')}]`], { encoding: 'utf8' });
    check(streamed === out, `detokenize --stream: ${JSON.stringify(streamed)}`);
  }
}
// Bad input: non-zero exit and a message on stderr.
const bad = (args, needle) => {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  check(r.status !== 0 && r.stderr.includes(needle), `${args.join(' ')} -> status ${r.status}, stderr ${JSON.stringify(r.stderr)}`);
};
writeFileSync(join(tmp, 'broken.json'), '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}');
bad(['tokenize', '--tokenizer', join(tmp, 'broken.json'), 'x'], "model.merges[0]: token 'b' not in vocab");
bad(['tokenize', '--tokenizer', join(tmp, 'missing.json'), 'x'], 'cannot open');
writeFileSync(join(tmp, 'bad.jsonl'), '{"text": "ok"}\n{"txt": 1}\n');
bad(['tokenize', '--tokenizer', dir, '--jsonl', join(tmp, 'bad.jsonl')], 'bad.jsonl:2');
bad(['detokenize', '--tokenizer', dir, '12', 'abc'], "'abc' is not a list of token ids");
bad(['tokenize', '--tokenizer', dir], 'give TEXT or --jsonl');
const help = execFileSync(bin, ['tokenize', '--help'], { encoding: 'utf8' });
check(help.includes('--no-special') && help.includes('--jsonl') && help.includes('--offsets'), 'tokenize --help');
if (failures) { console.error(`${failures} CLI check(s) failed`); process.exit(1); }
console.log('tokenize CLI: all checks passed against', `tokenizers@${require('tokenizers/package.json').version}`);
