// Reference for the BPE trainer test: Hugging Face's tokenizers (npm binding of the Rust library)
// trains a byte-level BPE tokenizer on a text file with its default BpeTrainer (vocab_size 30000,
// min_frequency 0, no special tokens, alphabet = characters seen) and writes tokenizer.json.
// Usage: node bpe_train_oracle.mjs CORPUS_TXT OUT_JSON
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer, BPE, byteLevelPreTokenizer } = require('tokenizers');

const [corpus, out] = process.argv.slice(2);
if (!corpus || !out) {
  console.error('usage: node bpe_train_oracle.mjs CORPUS_TXT OUT_JSON');
  process.exit(2);
}
const tok = new Tokenizer(BPE.empty());
// ByteLevel(add_prefix_space=false, use_regex=true): the GPT-2 split, as `lazarus train-tokenizer`.
tok.setPreTokenizer(byteLevelPreTokenizer(false, true));
tok.train([corpus]);
tok.save(out, true);
