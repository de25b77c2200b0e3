// End-to-end check of `lazarus chat-template` against @huggingface/jinja, run by CTest.
// Usage: node check_chat_template_cli.mjs <lazarus binary> <tests/data/chat_templates>
// For each real template and a few conversations, the CLI's stdout must equal the reference render
// byte for byte (no added newline); a template's raise_exception must give exit status 1 with the
// message on stderr; a config without a template must fail clearly.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { Template } from "@huggingface/jinja";

const [lazarus, dataDir] = process.argv.slice(2);
const tmp = mkdtempSync(join(tmpdir(), "lazarus-chat-cli-"));
const conversations = Object.fromEntries(
  JSON.parse(readFileSync(join(dataDir, "conversations.json"), "utf8")).map((c) => [c.name, c]),
);
let failures = 0;
let checks = 0;
const fail = (msg) => {
  failures++;
  console.error("FAIL: " + msg);
};

function check(templateName, caseName, addGenerationPrompt, extraArgs = []) {
  checks++;
  const cfg = JSON.parse(readFileSync(join(dataDir, templateName, "tokenizer_config.json"), "utf8"));
  const conv = conversations[caseName];
  const msgFile = join(tmp, `${caseName}.json`);
  writeFileSync(msgFile, JSON.stringify(conv.tools ? { messages: conv.messages, tools: conv.tools } : conv.messages));
  const ctx = { ...(conv.extra ?? {}), messages: conv.messages, add_generation_prompt: addGenerationPrompt };
  const tok = (t) => (t && typeof t === "object" ? t.content : t);
  if (tok(cfg.bos_token) != null) ctx.bos_token = tok(cfg.bos_token);
  if (tok(cfg.eos_token) != null) ctx.eos_token = tok(cfg.eos_token);
  if (conv.tools) ctx.tools = conv.tools;
  let expected = null;
  let expectedError = null;
  try {
    expected = new Template(cfg.chat_template).render(ctx);
  } catch (e) {
    expectedError = String(e.message);
  }
  const args = ["chat-template", "--tokenizer", join(dataDir, templateName), "--messages", msgFile, ...extraArgs];
  if (addGenerationPrompt) args.push("--add-generation-prompt");
  for (const [k, v] of Object.entries(conv.extra ?? {})) args.push("--var", `${k}=${JSON.stringify(v)}`);
  const r = spawnSync(lazarus, args, { encoding: "buffer" });
  const what = `${templateName}/${caseName}/agp=${addGenerationPrompt}`;
  if (expectedError === null) {
    if (r.status !== 0) return fail(`${what}: exit ${r.status}: ${r.stderr}`);
    if (!r.stdout.equals(Buffer.from(expected, "utf8")))
      return fail(`${what}: stdout differs\n  want ${JSON.stringify(expected)}\n  got  ${JSON.stringify(r.stdout.toString())}`);
  } else {
    if (r.status !== 1) return fail(`${what}: expected exit 1 for "${expectedError}", got ${r.status}`);
    if (!r.stderr.toString().includes(expectedError)) return fail(`${what}: stderr lacks "${expectedError}": ${r.stderr}`);
  }
}

for (const t of ["llama3", "llama3_1", "qwen3", "gemma3", "mistral_instruct"]) {
  for (const c of ["system_multi_turn", "unicode_and_escapes", "non_alternating", "tool_call_dict_args", "enable_thinking_false"]) {
    check(t, c, false);
    check(t, c, true);
  }
}
// A config with no chat template: clear error, non-zero exit.
checks++;
const none = spawnSync(lazarus, ["chat-template", "--tokenizer", join(dataDir, "mistral"), "--messages", join(tmp, "system_multi_turn.json")]);
if (none.status === 0 || !none.stderr.toString().includes("no chat_template")) fail(`mistral (no template): ${none.status} ${none.stderr}`);

rmSync(tmp, { recursive: true, force: true });
console.log(`${checks - failures}/${checks} CLI checks passed`);
process.exit(failures ? 1 : 0);
