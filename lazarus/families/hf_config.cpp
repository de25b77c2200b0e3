// Common config.json keys (see hf_config.h).
#include "lazarus/families/hf_config.h"

#include <fmt/format.h>

namespace lazarus::families {

void accept_hf_common_keys(config::JsonReader& r) {
  // Bookkeeping and legacy generation defaults (generation_config.json supersedes the latter).
  static const char* kIgnored[] = {"transformers_version",
                                   "_name_or_path",
                                   "use_cache",
                                   "pretraining_tp",
                                   "is_llama_config",
                                   "transformers.js_config",
                                   "torchscript",
                                   "return_dict",
                                   "output_hidden_states",
                                   "output_attentions",
                                   "use_bfloat16",
                                   "tf_legacy_loss",
                                   "chunk_size_feed_forward",
                                   "is_decoder",
                                   "tie_encoder_decoder",
                                   "finetuning_task",
                                   "id2label",
                                   "label2id",
                                   "problem_type",
                                   "tokenizer_class",
                                   "prefix",
                                   "sep_token_id",
                                   "decoder_start_token_id",
                                   "task_specific_params",
                                   "cross_attention_hidden_size",
                                   "max_length",
                                   "min_length",
                                   "do_sample",
                                   "early_stopping",
                                   "num_beams",
                                   "num_beam_groups",
                                   "diversity_penalty",
                                   "temperature",
                                   "top_k",
                                   "top_p",
                                   "typical_p",
                                   "repetition_penalty",
                                   "length_penalty",
                                   "no_repeat_ngram_size",
                                   "encoder_no_repeat_ngram_size",
                                   "bad_words_ids",
                                   "num_return_sequences",
                                   "output_scores",
                                   "return_dict_in_generate",
                                   "forced_bos_token_id",
                                   "forced_eos_token_id",
                                   "remove_invalid_values",
                                   "exponential_decay_length_penalty",
                                   "suppress_tokens",
                                   "begin_suppress_tokens"};
  for (const char* k : kIgnored) r.skip(k);

  auto neutral = [&](const char* key, const config::Json& ok, const char* why) {
    if (!r.has(key)) return;
    const config::Json& v = r.raw(key);
    if (v.is_null() || v == ok) return;
    throw ConfigError(fmt::format("{}: {} is not supported ({}; only {} is)", r.field(key),
                                  v.dump(), why, ok.dump()));
  };
  neutral("rope_interleaved", false, "interleaved rotary pairs");
  neutral("pruned_heads", config::Json::object(), "pruned attention heads");
  neutral("is_encoder_decoder", false, "encoder-decoder models");
  neutral("add_cross_attention", false, "cross-attention");
  if (r.has("quantization_config")) {
    throw ConfigError(fmt::format(
        "{}: quantized checkpoints ({}) are not supported yet; use an unquantized (f32/bf16/f16) "
        "checkpoint",
        r.field("quantization_config"), r.raw("quantization_config").dump()));
  }
}

}  // namespace lazarus::families
