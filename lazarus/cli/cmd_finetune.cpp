// `lazarus finetune`: LoRA fine-tuning of a model (a shipped model's name, a folder, a preset or a
// hub id, through io::resolve_model_folder) on chat / instruction JSONL — records rendered with the
// model's chat template and the prompt masked out of the loss — with the shared training flags, the
// Trainer's checkpoints (adapter weights only) and exact resume, and a PEFT adapter folder as the
// result (optionally also the merged model as a Hugging Face folder).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "lazarus/adapters/lora.h"
#include "lazarus/cli/commands.h"
#include "lazarus/cli/number_flags.h"
#include "lazarus/cli/training_flags.h"
#include "lazarus/core/error.h"
#include "lazarus/generation/generate.h"
#include "lazarus/io/hub.h"
#include "lazarus/io/model_folder.h"
#include "lazarus/training/chat_data.h"

namespace lazarus::cli {

namespace fs = std::filesystem;

namespace {

struct FinetuneOpts {
  std::string model, data;
  int64_t lora_rank = 8;
  double lora_alpha = 16, lora_dropout = 0.05;
  std::vector<std::string> lora_targets = adapters::LoraConfig{}.target_modules;
  bool merge = false;
  TrainingFlags t;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

adapters::LoraConfig lora_config(const FinetuneOpts& o) {
  if (o.lora_rank < 1)
    throw ConfigError(fmt::format("[finetune] --lora-rank must be >= 1, got {}", o.lora_rank));
  if (!(o.lora_dropout >= 0 && o.lora_dropout < 1))
    throw ConfigError(
        fmt::format("[finetune] --lora-dropout must be in [0, 1), got {}", o.lora_dropout));
  if (o.lora_targets.empty())
    throw ConfigError("[finetune] --lora-targets: name at least one module (e.g. q_proj,v_proj)");
  adapters::LoraConfig c;
  c.r = o.lora_rank;
  c.alpha = o.lora_alpha;
  c.dropout = o.lora_dropout;
  c.target_modules = o.lora_targets;
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("[finetune] {}", e.what()));
  }
  return c;
}

/// Each target must name at least one Linear layer (PEFT's rule: the dotted name equals it or
/// ends with "." + it). Returns "q_proj x2, v_proj x2" for the plan.
std::string check_targets(models::CausalLM& model, const adapters::LoraConfig& c,
                          const std::string& folder) {
  std::vector<std::string> names;
  std::set<std::string> leaves;
  for (auto& [name, m] : model.named_modules()) {
    if (!dynamic_cast<nn::Linear*>(m)) continue;
    names.push_back(name);
    leaves.insert(name.substr(name.rfind('.') + 1));
  }
  std::string summary;
  for (const auto& t : c.target_modules) {
    int64_t n = 0;
    for (const auto& name : names) n += (name == t || ends_with(name, "." + t)) ? 1 : 0;
    if (n == 0) {
      std::string have;
      for (const auto& l : leaves) have += (have.empty() ? "" : ", ") + l;
      throw ConfigError(fmt::format(
          "[finetune] --lora-targets: '{}' matches no Linear layer of {}; its Linear layers are "
          "named {}",
          t, folder, have.empty() ? "(none)" : have));
    }
    summary += fmt::format("{}{} x{}", summary.empty() ? "" : ", ", t, n);
  }
  return summary;
}

/// The id that fills sequences after their end (never learned, never attended to by real tokens
/// under the causal mask): the pad token, else eos, else 0.
int64_t pad_id(const io::PretrainedModel& m) {
  if (m.generation.pad_token_id) return *m.generation.pad_token_id;
  if (m.tokenizer_config && m.tokenizer_config->pad_token) {
    if (auto id = m.tokenizer->token_to_id(*m.tokenizer_config->pad_token)) return int64_t(*id);
  }
  if (!m.generation.eos_token_id.empty()) return m.generation.eos_token_id[0];
  return 0;
}

void run_finetune(CLI::App* cmd, FinetuneOpts& o) {
  prepare_training(cmd, o.t, "finetune", /*holdout_may_be_zero=*/true);
  adapters::LoraConfig lc = lora_config(o);
  if (!fs::is_regular_file(o.data)) {
    throw LoadError(
        fmt::format("{}: cannot open this data file (--data: JSONL, one {{\"messages\": [...]}} or "
                    "{{\"prompt\": ..., \"completion\": ...}} record a line)",
                    o.data));
  }

  // The model: whatever --model names, resolved to a folder and loaded in f32.
  std::string folder = io::resolve_model_folder(o.model);
  set_activity("loading the model in " + folder);
  io::PretrainedModel pm = io::load_pretrained(folder);
  pm.causal_lm();  // a classifier folder: say so before anything else
  if (!pm.tokenizer) {
    throw LoadError(fmt::format(
        "{}: no tokenizer.json; fine-tuning on text needs the model's tokenizer", folder));
  }
  models::CausalLM& model = *pm.model;
  const auto& bb = model.config().backbone;
  const int64_t V = bb.embedding.vocab_size;
  int64_t limit = o.t.seq_len;
  bool capped = false;
  // Attention layers (transformer or hybrid backbones) bound the context; SSM / recurrent ones
  // do not.
  if (const int64_t ctx = generation::context_length(model); ctx > 0 && limit > ctx) {
    limit = ctx;
    capped = true;
  }

  // The data: every record rendered (chat template, prompt masked), truncated to the limit.
  std::optional<tokenizers::ChatTemplate> tmpl;
  if (pm.tokenizer_config && pm.tokenizer_config->has_chat_template())
    tmpl.emplace(pm.tokenizer_config->chat_template());
  training::ChatRenderer renderer(
      *pm.tokenizer, tmpl, pm.tokenizer_config ? pm.tokenizer_config->bos_token : std::nullopt,
      pm.tokenizer_config ? pm.tokenizer_config->eos_token : std::nullopt);
  std::vector<training::TokenizedExample> examples;
  try {
    examples = renderer.render_file(o.data);
  } catch (const ConfigError& e) {
    if (tmpl || std::string(e.what()).find("need a chat template") == std::string::npos) throw;
    throw ConfigError(fmt::format(
        "{}: {} has no chat_template in tokenizer_config.json; use prompt/completion records, "
        "or a model that has one",
        e.what(), folder));
  }
  int64_t n_records = int64_t(examples.size()), truncated = 0, dropped = 0, tokens = 0, learned = 0,
          longest = 0;
  std::vector<std::vector<int64_t>> ids, labels;
  for (auto& ex : examples) {
    if (int64_t(ex.ids.size()) > limit) {
      ++truncated;
      ex.ids.resize(size_t(limit));
      ex.labels.resize(size_t(limit));
    }
    int64_t n_learn = 0;
    for (int64_t l : ex.labels) n_learn += l != -100;
    if (n_learn == 0) {
      ++dropped;  // its answer lies wholly past the limit: nothing to learn from it
      continue;
    }
    for (int64_t id : ex.ids) {
      if (id < 0 || id >= V) {
        throw ConfigError(fmt::format(
            "{}: the tokenizer produced id {} but the model's vocab_size is {}: the tokenizer "
            "does not belong to this model",
            folder, id, V));
      }
    }
    tokens += int64_t(ex.ids.size());
    learned += n_learn;
    longest = std::max<int64_t>(longest, int64_t(ex.ids.size()));
    ids.push_back(std::move(ex.ids));
    labels.push_back(std::move(ex.labels));
  }
  if (ids.empty()) {
    throw ConfigError(fmt::format(
        "[finetune] {}: every record's answer starts beyond {} tokens, so nothing is left to "
        "learn; raise --seq-len",
        o.data, limit));
  }
  // Sequences are padded to the longest kept example, not to --seq-len: no compute on padding
  // beyond what the batch needs.
  const int64_t L = std::max<int64_t>(longest, 2);
  const int64_t pad = pad_id(pm);
  for (size_t i = 0; i < ids.size(); ++i) {
    ids[i].resize(size_t(L), pad);
    labels[i].resize(size_t(L), -100);
  }
  std::vector<std::vector<int64_t>> index(ids.size()), train_idx, held_idx;
  for (size_t i = 0; i < ids.size(); ++i) index[i] = {int64_t(i)};
  if (o.t.holdout > 0) {
    training::split_holdout(index, o.t.holdout, o.t.seed, train_idx, held_idx);
  } else {
    train_idx = index;
  }
  auto gather = [&](const std::vector<std::vector<int64_t>>& idx,
                    std::vector<std::vector<int64_t>>& a, std::vector<std::vector<int64_t>>& b) {
    for (auto& v : idx) {
      a.push_back(ids[size_t(v[0])]);
      b.push_back(labels[size_t(v[0])]);
    }
  };
  std::vector<std::vector<int64_t>> tr_ids, tr_labels, ev_ids, ev_labels;
  gather(train_idx, tr_ids, tr_labels);
  gather(held_idx, ev_ids, ev_labels);
  const int64_t n_train = int64_t(tr_ids.size()), n_held = int64_t(ev_ids.size());
  training::ExampleLoader train_loader(tr_ids, tr_labels, o.t.batch_size, o.t.seed);
  std::unique_ptr<training::ExampleLoader> eval_loader;
  if (n_held > 0) {
    eval_loader = std::make_unique<training::ExampleLoader>(ev_ids, ev_labels, o.t.batch_size,
                                                            o.t.seed, /*shuffle=*/false);
  }

  // LoRA: the base frozen, adapters on the targets.
  std::string matched = check_targets(model, lc, folder);
  int64_t n_total_base = model.num_parameters();
  auto wrapped = adapters::apply_lora(model, lc, o.t.seed);
  int64_t n_trainable = model.num_parameters(/*trainable_only=*/true);

  std::string existing;
  training::TrainerConfig tc = trainer_config(o.t, n_train, "finetune", existing);
  tc.checkpoint_trainable_only = true;
  tc.run_options["data"] = content_identity(read_text_file(o.data, "data"));
  tc.run_options["model"] = "config " + content_identity(pm.config.dump());
  tc.run_options["lora_rank"] = std::to_string(lc.r);
  tc.run_options["lora_alpha"] = fmt::format("{}", lc.alpha);
  tc.run_options["lora_dropout"] = fmt::format("{}", lc.dropout);
  std::string targets;
  for (auto& t : lc.target_modules) targets += (targets.empty() ? "" : ",") + t;
  tc.run_options["lora_targets"] = targets;
  if (!eval_loader) tc.eval_every = 0;

  std::printf("model      %s (%s): %lld layers, hidden %lld, vocab %lld; %s parameters (%s)\n",
              folder.c_str(), pm.family.c_str(), (long long)bb.num_layers,
              (long long)bb.hidden_size, (long long)V, count_str(n_total_base).c_str(),
              scale_str(n_total_base).c_str());
  std::printf(
      "lora       rank %lld, alpha %g (scale %g), dropout %g on %zu Linear layers (%s); %s "
      "trainable parameters (%.3f%% of the base), the base frozen\n",
      (long long)lc.r, lc.alpha, lc.scale(), lc.dropout, wrapped.size(), matched.c_str(),
      count_str(n_trainable).c_str(), 100.0 * double(n_trainable) / double(n_total_base));
  std::printf(
      "data       %s: %lld records (%s) -> %lld train, %lld held out; %s tokens, %s of them "
      "learned (the prompts masked); padded to %lld\n",
      o.data.c_str(), (long long)n_records,
      tmpl ? "rendered with the chat template" : "no chat template: prompt + completion",
      (long long)n_train, (long long)n_held, count_str(tokens).c_str(), count_str(learned).c_str(),
      (long long)L);
  std::printf(
      "           %lld truncated to %lld tokens (--seq-len%s), %lld skipped (answer past it)\n",
      (long long)truncated, (long long)limit, capped ? ", capped by max_position_embeddings" : "",
      (long long)dropped);
  fs::path out(o.t.output);
  std::string final_what =
      fmt::format("PEFT adapter in {}{}", out.string(),
                  o.merge ? ", merged model in " + (out / "merged").string() : "");
  print_training_plan(o.t, tc, n_train, L, eval_loader != nullptr, final_what, existing);
  if (o.t.dry_run) return;

  set_activity("fine-tuning");
  training::TrainResult r = train_causal_lm(model, train_loader, eval_loader.get(), tc);

  adapters::save_peft_adapter(model, lc, out.string(), o.model);
  print_done(r);
  std::printf("\nwrote      %s (adapter_config.json, adapter_model.safetensors), %s, %s\n",
              out.string().c_str(), (out / "metrics.jsonl").string().c_str(),
              (out / "loss_curve.svg").string().c_str());
  if (o.merge) {
    adapters::merge_and_unload(model);
    io::save_pretrained(pm, (out / "merged").string());
    std::printf(
        "merged     %s (config.json, model.safetensors, tokenizer): lazarus generate "
        "--model %s\n",
        (out / "merged").string().c_str(), (out / "merged").string().c_str());
  }
}

}  // namespace

void register_finetune_command(CLI::App& app) {
  auto o = std::make_shared<FinetuneOpts>();
  CLI::App* cmd = app.add_subcommand(
      "finetune",
      "Fine-tune a model with LoRA on chat / instruction JSONL (prints the plan first)");
  cmd->add_option("--model,-m", o->model,
                  "The base model: a Hugging Face model folder, a shipped model's name, a preset "
                  "(lazarus list-models) or a hub id (the local cache, else downloaded)")
      ->required();
  cmd->add_option("--data", o->data,
                  "JSONL, one record a line: {\"messages\": [{\"role\": ..., \"content\": ...}, "
                  "...]} (rendered with the model's chat template) or {\"prompt\": ..., "
                  "\"completion\": ...}; only the assistant's replies / completions are learned")
      ->required();
  // 0 passes the parse so that run_finetune's message ("must be >= 1") names it.
  cmd->add_option("--lora-rank", o->lora_rank, "LoRA rank r")
      ->transform(integer_in(0, int64_t(1) << 20))
      ->capture_default_str();
  cmd->add_option("--lora-alpha", o->lora_alpha, "LoRA alpha (the update is scaled by alpha / r)")
      ->transform(number_in(-1e9, 1e9))
      ->capture_default_str();
  cmd->add_option("--lora-dropout", o->lora_dropout, "Dropout on the LoRA path's input")
      ->capture_default_str();
  cmd->add_option("--lora-targets", o->lora_targets,
                  "Linear layers to adapt, by name or name suffix (PEFT's target_modules), "
                  "comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_flag("--merge", o->merge,
                "Also write the model with the adapter merged into its weights to OUTPUT/merged "
                "(a Hugging Face folder with the tokenizer)");
  o->t.output = "runs/finetune";
  o->t.seq_len = 1024;
  o->t.batch_size = 4;
  o->t.lr = 2e-4;
  o->t.weight_decay = 0.0;
  o->t.epochs = 3;
  o->t.holdout = 0.05;
  add_training_flags(cmd, o->t,
                     "Longest sequence in tokens: longer records are truncated (an answer wholly "
                     "past it is skipped); batches are padded to the longest record kept",
                     "Fraction of records held out for evaluation (0: none)");
  cmd->footer(
      "Writes OUTPUT/adapter_config.json + adapter_model.safetensors (PEFT's format: load them "
      "with\n"
      "`lazarus generate --model M --adapter OUTPUT` or PEFT's PeftModel.from_pretrained), "
      "checkpoints\n"
      "(adapter and optimizer only) and metrics.jsonl + loss_curve.svg.\n"
      "Example:\n"
      "  lazarus finetune --model ./my-model --data chat.jsonl --lora-rank 8 --steps 200 "
      "--output runs/ft --merge\n"
      "Interrupted? Run the same command with --resume.");
  cmd->callback([cmd, o] { run_finetune(cmd, *o); });
}

}  // namespace lazarus::cli
