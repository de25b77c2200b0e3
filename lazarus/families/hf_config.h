// Keys every Hugging Face config.json may carry beside a family's own: bookkeeping and legacy
// generation settings that do not change a causal LM's forward pass. Family readers accept these
// and report everything else they do not understand as an error.
#pragma once

#include "lazarus/config/json_reader.h"

namespace lazarus::families {

/// Marks the common PretrainedConfig keys read on `r` (transformers_version, use_cache, id2label,
/// the legacy generation keys such as max_length / temperature, ...). Keys that would change the
/// math unless they hold their neutral value (rope_interleaved, pruned_heads,
/// is_encoder_decoder, add_cross_attention) are accepted only at that value; otherwise a
/// ConfigError names the key and the value. A `quantization_config` is always an error
/// (quantized checkpoints are not supported yet).
void accept_hf_common_keys(config::JsonReader& r);

}  // namespace lazarus::families
