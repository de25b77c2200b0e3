// Trains a bigram language model on a synthetic token stream with the Trainer: warm-up + cosine
// schedule, held-out evaluation, checkpoints, metrics.jsonl and loss_curve.svg in OUT_DIR.
// Usage: example_train_bigram [OUT_DIR]   (default runs/bigram; rerun to resume/finish)
#include <cstdio>

#include "lazarus/losses/losses.h"
#include "lazarus/nn/layers.h"
#include "lazarus/training/trainer.h"

using namespace lazarus;

struct Bigram : nn::Module {
  Bigram(int64_t V, int64_t D) {
    wte = register_module("wte", std::make_shared<nn::Embedding>(V, D));
    head = register_module("head", std::make_shared<nn::Linear>(D, V));
  }
  Tensor forward(const Tensor& ids) { return head->forward(wte->forward(ids)); }  // (B, T, V)
  std::shared_ptr<nn::Embedding> wte;
  std::shared_ptr<nn::Linear> head;
};

int main(int argc, char** argv) {
  std::string out = argc > 1 ? argv[1] : "runs/bigram";
  // A stream whose next token depends on the current one (mostly): a bigram model can learn it.
  std::vector<int64_t> tokens;
  for (int i = 0; i < 4000; ++i) tokens.push_back((i * 7 + i / 5) % 16);
  std::vector<std::vector<int64_t>> train, held;
  training::split_holdout(training::pack_tokens(tokens, 16), 0.1, /*seed=*/0, train, held);
  training::ExampleLoader train_loader(train, train, /*batch_size=*/8, /*seed=*/0);
  training::ExampleLoader eval_loader(held, held, 8, 0, /*shuffle=*/false);

  manual_seed(0);
  Bigram model(16, 16);
  training::TrainerConfig cfg;
  cfg.max_steps = 200;
  cfg.lr = 0.02;
  cfg.warmup_steps = 20;
  cfg.eval_every = 25;
  cfg.save_every = 100;
  cfg.log_every = 50;
  cfg.output_dir = out;
  training::Trainer trainer(
      model,
      [](nn::Module& m, const training::Batch& b) {
        return losses::causal_lm_loss(static_cast<Bigram&>(m).forward(b.input_ids), b.labels);
      },
      train_loader, &eval_loader, cfg);
  auto r = trainer.train();
  std::printf("held-out loss %.4f, perplexity %.3f; curve: %s/loss_curve.svg\n", r.eval_loss,
              r.eval_perplexity, out.c_str());
  return 0;
}
