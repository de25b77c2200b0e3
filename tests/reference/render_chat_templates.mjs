// Reference outputs for the chat-template parity test, made with @huggingface/jinja at test time.
// Usage: node render_chat_templates.mjs <tests/data/chat_templates> <out.json>
// Renders every <dir>/tokenizer_config.json chat template over conversations.json (with and
// without the generation prompt) and every jinja_features.json template over its context.
import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";

const [dataDir, outFile] = process.argv.slice(2);
if (!dataDir || !outFile) {
  console.error("usage: node render_chat_templates.mjs <data_dir> <out.json>");
  process.exit(2);
}

const tokenText = (t) => (t && typeof t === "object" ? t.content : t);

function render(source, context) {
  try {
    return { ok: true, output: new Template(source).render(context) };
  } catch (e) {
    return { ok: false, error: String(e && e.message !== undefined ? e.message : e) };
  }
}

const conversations = JSON.parse(readFileSync(join(dataDir, "conversations.json"), "utf8"));
const templates = [];
for (const name of readdirSync(dataDir).sort()) {
  const cfgPath = join(dataDir, name, "tokenizer_config.json");
  if (!existsSync(cfgPath)) continue;
  const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  let source = cfg.chat_template;
  if (Array.isArray(source)) source = (source.find((t) => t.name === "default") ?? source[0]).template;
  if (typeof source !== "string") continue;
  for (const conv of conversations) {
    for (const addGenerationPrompt of [false, true]) {
      const context = { ...(conv.extra ?? {}), messages: conv.messages, add_generation_prompt: addGenerationPrompt };
      const bos = tokenText(cfg.bos_token);
      const eos = tokenText(cfg.eos_token);
      if (bos != null) context.bos_token = bos;
      if (eos != null) context.eos_token = eos;
      if (conv.tools) context.tools = conv.tools;
      templates.push({ template: name, case: conv.name, add_generation_prompt: addGenerationPrompt, ...render(source, context) });
    }
  }
}

const features = JSON.parse(readFileSync(join(dataDir, "jinja_features.json"), "utf8")).map((f) => ({
  name: f.name,
  ...render(f.template, f.context),
}));

writeFileSync(outFile, JSON.stringify({ templates, features }, null, 1));
console.log(`reference: ${templates.length} template renders, ${features.length} feature renders -> ${outFile}`);
