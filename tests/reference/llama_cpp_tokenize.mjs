// Reference oracle for GGUF vocabularies: llama.cpp's own tokenizer (through node-llama-cpp,
// pinned 3.21.1, its prebuilt CPU binaries; the model loaded vocabOnly, so a file needs no
// tensors) on a list of texts. Prints JSON on stdout:
//   {"reference": {...versions}, "ids": [[...] per text], "eog": [ids llama.cpp ends generation on],
//    "bos": id|null, "eos": id|null}
// Texts are tokenized with special-token parsing on (control tokens in the text become their ids,
// as Hugging Face's added tokens do) and no BOS/EOS added (node-llama-cpp's tokenize never adds
// them).
// Usage: node llama_cpp_tokenize.mjs MODEL.gguf TEXTS.json
import { readFileSync } from 'node:fs';

const [modelPath, textsPath] = process.argv.slice(2);
if (!modelPath || !textsPath) {
  console.error('usage: node llama_cpp_tokenize.mjs MODEL.gguf TEXTS.json');
  process.exit(2);
}
const texts = JSON.parse(readFileSync(textsPath, 'utf8'));

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version;
  } catch {
    return null;
  }
}

const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
const logs = [];
const llama = await getLlama({
  gpu: false, build: 'never', skipDownload: true, usePrebuiltBinaries: true, progressLogs: false,
  logLevel: LlamaLogLevel.warn, logger: (level, message) => logs.push(`[${level}] ${message}`.trimEnd()),
});
let model;
try {
  model = await llama.loadModel({ modelPath, vocabOnly: true });
} catch (e) {
  console.error(`llama_cpp_tokenize: llama.cpp failed to load ${modelPath}: ${e?.message ?? e}`);
  if (logs.length) console.error(logs.join('\n'));
  process.exit(1);
}
const ids = texts.map((t) => Array.from(model.tokenize(t, true)));
const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
const eog = [];
for (let t = 0; t < nVocab; ++t) if (model.isEogToken(t)) eog.push(t);
console.log(JSON.stringify({
  reference: { node_llama_cpp: packageVersion('node-llama-cpp'), llama_cpp: llama.llamaCppRelease },
  ids, eog, bos: model.tokens.bos ?? null, eos: model.tokens.eos ?? null,
}));
await model.dispose();
await llama.dispose();
