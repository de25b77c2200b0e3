// Each CLI subcommand lives in its own file and registers itself on the app here.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace lazarus::cli {

/// `lazarus tokenize` and `lazarus detokenize` (cmd_tokenize.cpp).
void register_tokenize_commands(CLI::App& app);
/// `lazarus chat-template` (cmd_chat_template.cpp).
void register_chat_template_command(CLI::App& app);
/// `lazarus info` (cmd_info.cpp).
void register_info_command(CLI::App& app);
/// `lazarus list-models`, `lazarus --list-models` and `lazarus download` (cmd_list_models.cpp).
void register_hub_commands(CLI::App& app);
/// `lazarus generate`: prompt in, streamed text out (cmd_generate.cpp).
void register_generate_command(CLI::App& app);
/// `lazarus chat`: a conversation over stdin through the chat template (cmd_chat.cpp).
void register_chat_command(CLI::App& app);
/// `lazarus train-tokenizer` (cmd_train_tokenizer.cpp).
void register_train_tokenizer_command(CLI::App& app);
/// `lazarus convert`: HF folder <-> GGUF file (cmd_convert.cpp).
void register_convert_command(CLI::App& app);
/// `lazarus demo`: fit a tiny model with autograd and print the loss falling (cmd_demo.cpp).
void register_demo_command(CLI::App& app);

/// `lazarus train`: a causal LM from scratch on text files (cmd_train.cpp).
void register_train_command(CLI::App& app);
/// `lazarus finetune`: LoRA fine-tuning on chat / instruction JSONL (cmd_finetune.cpp).
void register_finetune_command(CLI::App& app);

/// What the command is doing now ("building the model"), named by main's message when memory
/// runs out: "error: out of memory while building the model".
void set_activity(std::string what);
const std::string& activity();

}  // namespace lazarus::cli
