// Reads GGUF files with @huggingface/gguf (Hugging Face's own GGUF parser, not written here) and
// prints what it found as JSON, for check_gguf_metadata.py to compare with `lazarus info --model
// FILE.gguf --json`: per file the header counts, the data section's offset, every metadata key
// with its GGUF value type (and array element type) and value, every tensor info (name, n_dims,
// ne in ggml order, ggml type id, offset) and its parameter count (computeParametersCount).
// 64-bit integers (which it reads as BigInt) print as {"bigint": "<decimal>"} so nothing is
// rounded through a double.
//   node hf_gguf_dump.mjs FILE.gguf...
import { gguf } from '@huggingface/gguf';
import path from 'node:path';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node hf_gguf_dump.mjs FILE.gguf...');
  process.exit(2);
}
const big = (_k, v) => (typeof v === 'bigint' ? { bigint: v.toString() } : v);
const out = [];
for (const f of files) {
  const r = await gguf(path.resolve(f), { allowLocalFile: true, typedMetadata: true, computeParametersCount: true });
  const header = new Set(['version', 'tensor_count', 'kv_count']);
  const metadata = [];
  for (const [key, tv] of Object.entries(r.typedMetadata)) {
    if (header.has(key)) continue;
    metadata.push({ key, type: tv.type, subType: tv.subType ?? null, value: tv.value });
  }
  out.push({
    file: f,
    version: r.metadata.version,
    tensor_count: r.metadata.tensor_count,
    kv_count: r.metadata.kv_count,
    tensor_data_offset: r.tensorDataOffset,
    parameter_count: r.parameterCount,
    little_endian: r.littleEndian,
    metadata,
    tensors: r.tensorInfos.map((t) => ({ name: t.name, n_dims: t.n_dims, ne: t.shape, type_id: t.dtype, offset: t.offset })),
  });
}
process.stdout.write(JSON.stringify(out, big) + '\n');
