// Builds the small synthetic tokenizer.json files the tokenizer tests use (tests/data/tokenizers/
// synthetic/): WordPiece, Unigram and BPE vocabularies trained on a tiny text by a toy trainer, wired
// into pipelines that exercise every normalizer / pre-tokenizer / model option / decoder we support.
// Only the inputs are generated here; expected outputs always come from HF tokenizers at test time.
// Usage: node make_test_tokenizers.mjs OUT_DIR
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = process.argv[2] || join(here, '../data/tokenizers/synthetic');
mkdirSync(outDir, { recursive: true });

const corpus = JSON.parse(readFileSync(join(here, '../tokenizers/corpus.json'), 'utf8'));
const prose = `The tokenizer splits text into pieces. Tokenizers are trained on large corpora; the
pieces they learn are frequent words, word beginnings and endings such as -ing, -ed, -tion and -ly.
Numbers like 2024, 3.14 and 1,000,000 appear too. Hello hello HELLO world worlds worldly wording.
Unbelievable, unbreakable, understanding, undertaking, interesting, interested, interests.
Café naïve résumé façade jalapeño. 東京 北京 上海. Привет мир. नमस्ते दुनिया.`;
const training = [prose, ...corpus.filter((t) => t.length < 400)].join('\n');

const BYTE_CHARS = (() => {
  const bs = [];
  for (let b = 33; b <= 126; ++b) bs.push(b);
  for (let b = 161; b <= 172; ++b) bs.push(b);
  for (let b = 174; b <= 255; ++b) bs.push(b);
  const map = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; ++b) map[b] = bs.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
  return map;
})();
const byteLevel = (s) => Array.from(Buffer.from(s, 'utf8'), (b) => BYTE_CHARS[b]).join('');

// Toy BPE trainer: words -> counts, symbols merged by highest pair count (ties: smallest pair).
function trainBpe(wordSymbols, nMerges, join2) {
  const words = [...wordSymbols.entries()].map(([k, c]) => ({ syms: k.split('\u0000'), c }));
  const merges = [];
  const vocab = new Set();
  for (const w of words) for (const s of w.syms) vocab.add(s);
  for (let m = 0; m < nMerges; ++m) {
    const counts = new Map();
    for (const w of words) {
      for (let i = 0; i + 1 < w.syms.length; ++i) {
        const k = w.syms[i] + '\u0000' + w.syms[i + 1];
        counts.set(k, (counts.get(k) || 0) + w.c);
      }
    }
    let best = null, bestC = 1;
    for (const [k, c] of counts) if (c > bestC || (c === bestC && best !== null && k < best)) { best = k; bestC = c; }
    if (!best) break;
    const [a, b] = best.split('\u0000');
    const merged = join2(a, b);
    merges.push([a, b]);
    vocab.add(merged);
    for (const w of words) {
      const out = [];
      for (let i = 0; i < w.syms.length; ++i) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) { out.push(merged); ++i; } else out.push(w.syms[i]);
      }
      w.syms = out;
    }
  }
  return { merges, vocab };
}

function countWords(pieces, toSymbols) {
  const m = new Map();
  for (const p of pieces) {
    if (!p) continue;
    const k = toSymbols(p).join('\u0000');
    m.set(k, (m.get(k) || 0) + 1);
  }
  return m;
}

const vocabObject = (tokens) => Object.fromEntries(tokens.map((t, i) => [t, i]));
const addedToken = (id, content, special, extra = {}) => ({
  id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special, ...extra,
});
function write(name, tok) {
  const full = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: null, post_processor: null, decoder: null, ...tok };
  writeFileSync(join(outDir, name), JSON.stringify(full, null, 1) + '\n');
}
const uniq = (xs) => [...new Set(xs)];
const chars = (s) => Array.from(s);

// ---------- byte-level BPE (GPT-2 style) and Split behaviours ----------
{
  const pieces = training.match(/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu);
  const words = countWords(pieces, (p) => chars(byteLevel(p)));
  const { merges, vocab } = trainBpe(words, 400, (a, b) => a + b);
  const tokens = uniq(['<s>', '<pad>', '</s>', '<unk>', ...BYTE_CHARS, ...[...vocab].sort()]);
  const model = { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
    end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false,
    vocab: vocabObject(tokens), merges: merges.map(([a, b]) => `${a} ${b}`) };
  const added = [addedToken(0, '<s>', true), addedToken(1, '<pad>', true), addedToken(2, '</s>', true),
    addedToken(3, '<unk>', true), addedToken(tokens.length, '<mask>', true, { lstrip: true })];
  write('bpe_gpt2_prefix.json', {
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { ...model, ignore_merges: true, merges: merges } });
  const patterns = [{ Regex: '[\\s,.!?]+' }, { String: ' ' }, { Regex: '\\p{N}' }];
  const behaviors = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];
  patterns.forEach((pattern, pi) => {
    for (const behavior of behaviors) {
      for (const invert of [false, true]) {
        write(`bpe_split_${pi}_${behavior}_${invert ? 'inv' : 'fwd'}.json`, {
          added_tokens: added.slice(0, 4),
          pre_tokenizer: { type: 'Sequence', pretokenizers: [
            { type: 'Split', pattern, behavior, invert },
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }] },
          post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
          decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
          model });
      }
    }
  });
}

// ---------- SentencePiece-style BPE: Metaspace pre-tokenizer, byte fallback, added-token flags ----------
{
  const words = countWords(training.split(/(?= )/), (p) => chars(p.replaceAll(' ', '\u2581')));
  const { merges, vocab } = trainBpe(words, 300, (a, b) => a + b);
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const common = [...vocab].filter((t) => [...t].length > 1 || /[\p{Script=Latin}\u2581\p{P}\d ]/u.test(t)).sort();
  const singles = uniq(merges.flat().filter((t) => [...t].length === 1));
  const tokens = uniq(['<unk>', '<s>', '</s>', ...bytes, '\u2581', ...singles, ...common]);
  const added = [addedToken(0, '<unk>', true), addedToken(1, '<s>', true), addedToken(2, '</s>', true),
    addedToken(tokens.length, '<tool>', false, { lstrip: true, normalized: false }),
    addedToken(tokens.length + 1, '</tool>', false, { rstrip: true, normalized: false }),
    addedToken(tokens.length + 2, 'hello', false, { single_word: true, normalized: true }),
    addedToken(tokens.length + 3, '<sep>', true, { lstrip: true, rstrip: true, normalized: false })];
  const decoder = { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
    { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] };
  const template = { type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } };
  for (const [name, scheme, split] of [['first', 'first', false], ['always', 'always', true], ['never', 'never', true]]) {
    write(`bpe_metaspace_${name}.json`, {
      added_tokens: added,
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split },
      post_processor: template,
      decoder: scheme === 'never' ? decoder : { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split }] },
      model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null,
        end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab: vocabObject(tokens), merges } });
  }
  // Same vocabulary without byte pieces: unknown characters become <unk> (fused / not fused).
  const noBytes = tokens.filter((t) => !/^<0x[0-9A-F]{2}>$/.test(t));
  for (const fuse of [true, false]) {
    write(`bpe_unk_${fuse ? 'fused' : 'unfused'}.json`, {
      added_tokens: added.slice(0, 3).map((t) => ({ ...t })),
      normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
      post_processor: template, decoder,
      model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null,
        end_of_word_suffix: null, fuse_unk: fuse, byte_fallback: false, vocab: vocabObject(noBytes), merges } });
  }
}

// ---------- BPE with continuing_subword_prefix and end_of_word_suffix ----------
{
  const norm = (s) => s.normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase();
  const pieces = norm(training).split(/\s+/).flatMap((w) => w.split(/(\p{P})/u)).filter(Boolean);
  const toSyms = (w) => chars(w).map((c, i, a) => (i > 0 ? '##' : '') + c + (i === a.length - 1 ? '</w>' : ''));
  const words = countWords(pieces, toSyms);
  const { merges, vocab } = trainBpe(words, 300, (a, b) => a + b.slice(2));
  const base = uniq(pieces.flatMap(toSyms));
  const tokens = uniq(['[UNK]', '[CLS]', '[SEP]', ...base, ...[...vocab].sort()]);
  write('bpe_prefix_suffix.json', {
    added_tokens: [addedToken(0, '[UNK]', true), addedToken(1, '[CLS]', true), addedToken(2, '[SEP]', true)],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'StripAccents' }, { type: 'Lowercase' }, { type: 'Strip', strip_left: true, strip_right: true }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Punctuation', behavior: 'Isolated' }, { type: 'Digits', individual_digits: false }] },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 2], cls: ['[CLS]', 1] },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '##' }, content: '' }, { type: 'BPEDecoder', suffix: '</w>' }] },
    model: { type: 'BPE', dropout: null, unk_token: '[UNK]', continuing_subword_prefix: '##',
      end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, vocab: vocabObject(tokens),
      merges: merges.map(([a, b]) => `${a} ${b}`) } });
}

// ---------- WordPiece ----------
{
  const norm = (s) => s.normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase();
  const words = norm(training).split(/[\s\p{P}]+/u).filter(Boolean);
  const freq = new Map();
  for (const w of words) freq.set(w, (freq.get(w) || 0) + 1);
  const top = [...freq.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 120).map(([w]) => w);
  const cs = uniq(chars(norm(training)).filter((c) => !/\s/u.test(c)));
  const subwords = ['##ing', '##ed', '##s', '##er', '##ly', '##tion', '##able', '##ize', '##ers', 'un', 'under', 'inter', 'token', '##izer', '##ization'];
  const tokens = uniq(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...cs, ...cs.map((c) => '##' + c), ...top, ...subwords]);
  const added = [addedToken(0, '[PAD]', true), addedToken(1, '[UNK]', true), addedToken(2, '[CLS]', true),
    addedToken(3, '[SEP]', true), addedToken(4, '[MASK]', true, { lstrip: true })];
  const model = { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: vocabObject(tokens) };
  write('wordpiece_bert.json', {
    added_tokens: added,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } } },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model });
  write('wordpiece_whitespace.json', {
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'StripAccents' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, { type: 'Digits', individual_digits: true }] },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: false },
    model: { ...model, max_input_chars_per_word: 12 } });
}

// ---------- Unigram ----------
{
  const text = training.normalize('NFKC');
  const counts = new Map();
  for (const w of text.split(/\s+/).filter(Boolean)) {
    const m = '\u2581' + w;
    const cs = chars(m);
    for (let i = 0; i < cs.length; ++i) {
      for (let l = 1; l <= 6 && i + l <= cs.length; ++l) {
        const s = cs.slice(i, i + l).join('');
        counts.set(s, (counts.get(s) || 0) + 1);
      }
    }
  }
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const pieces = [...counts.entries()].filter(([s, c]) => [...s].length === 1 || c >= 3)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 900)
    .filter(([s]) => !/[\u4e00-\u9fff]/u.test(s))  // leave CJK out so unknowns occur
    .map(([s, c]) => [s, Math.round(Math.log(c / total) * 1e4) / 1e4 - [...s].length * 0.1]);
  const bytes = Array.from({ length: 256 }, (_, b) => [`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0.0]);
  const special = [['<unk>', 0.0], ['<s>', 0.0], ['</s>', 0.0]];
  const added = [addedToken(0, '<unk>', true), addedToken(1, '<s>', true), addedToken(2, '</s>', true)];
  const eos = { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
    special_tokens: { '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } } };
  write('unigram_metaspace.json', {
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    post_processor: eos,
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 0, vocab: [...special, ...pieces], byte_fallback: false } });
  write('unigram_bytefallback.json', {
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Strip', strip_left: false, strip_right: true }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false }] },
    post_processor: eos,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'Unigram', unk_id: 0, vocab: [...special, ...bytes, ...pieces], byte_fallback: true } });
}
console.log(`wrote synthetic tokenizers to ${outDir}`);
