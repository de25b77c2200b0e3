// Reference for pair encoding, truncation and padding: runs HF's tokenizers (npm binding) on a
// tokenizer.json under each setting of SETTINGS_JSON and prints the encodings as JSON.
// Usage: node tokenizers_pairs_oracle.mjs TOKENIZER_JSON SETTINGS_JSON
// SETTINGS_JSON: {"inputs": [[a, b|null], ...], "settings": [{"truncation": null | {max_length,
// stride, strategy, direction}, "padding": null | {length|null, direction, pad_to_multiple_of,
// pad_id, pad_type_id, pad_token}, "add_special": bool}]}; "batch" is encodeBatch of the first texts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');
const version = require('tokenizers/package.json').version;

const [tokPath, settingsPath] = process.argv.slice(2);
const baseTok = Tokenizer.fromFile(tokPath);
const { inputs, settings } = JSON.parse(readFileSync(settingsPath, 'utf8'));

const view = (e) => ({
  ids: e.getIds(), type_ids: e.getTypeIds(), tokens: e.getTokens(),
  special_tokens_mask: e.getSpecialTokensMask(), attention_mask: e.getAttentionMask(),
  offsets: e.getOffsets(),
  overflowing: e.getOverflowing().map((o) => ({ ids: o.getIds(), offsets: o.getOffsets() })),
});

const results = [];
const fileTok = Tokenizer.fromFile(tokPath);
for (const s of settings) {
  const tok = s.from_file ? fileTok : baseTok;  // from_file: the file's own truncation/padding
  if (!s.from_file) tok.disableTruncation();
  if (!s.from_file) tok.disablePadding();
  if (s.truncation) {
    const t = s.truncation;
    tok.setTruncation(t.max_length, { stride: t.stride, strategy: t.strategy, direction: t.direction.toLowerCase() });
  }
  if (s.padding) {
    const p = s.padding;
    const opts = { direction: p.direction.toLowerCase(), padId: p.pad_id, padTypeId: p.pad_type_id, padToken: p.pad_token };
    if (p.length != null) opts.maxLength = p.length;
    if (p.pad_to_multiple_of != null) opts.padToMultipleOf = p.pad_to_multiple_of;
    tok.setPadding(opts);
  }
  const single = [];
  for (const [a, b] of inputs) {
    try {
      single.push(view(await tok.encode(a, b, { addSpecialTokens: s.add_special })));
    } catch (err) {
      single.push({ error: String(err.message || err) });
    }
  }
  let batch;
  try {
    const encs = await tok.encodeBatch(inputs.map(([a]) => a),
      { addSpecialTokens: s.add_special });
    batch = encs.map((e) => ({ ids: e.getIds(), attention_mask: e.getAttentionMask(), type_ids: e.getTypeIds() }));
  } catch (err) {
    batch = { error: String(err.message || err) };
  }
  results.push({ single, batch });
}
process.stdout.write(JSON.stringify({ reference: `tokenizers@${version}`, results }));
