// `lazarus demo`: trains a tiny one-layer transformer on a short text with the engine's autograd
// and prints the loss falling, then samples from it. A smoke test of the whole engine.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "lazarus/cli/commands.h"
#include "lazarus/core/error.h"
#include "lazarus/tensor/autograd.h"
#include "lazarus/tensor/backend.h"
#include "lazarus/tensor/ops.h"
#include "lazarus/tensor/random.h"

namespace lazarus::cli {

namespace {

const char* kText =
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the "
    "season of Light, it was the season of Darkness, it was the spring of hope, it was the winter "
    "of despair, we had everything before us, we had nothing before us, we were all going direct "
    "to Heaven, we were all going direct the other way.";

struct DemoOptions {
  int steps = 300;
  int seq = 32;
  int batch = 16;
  int dim = 64;
  double lr = 3e-3;
  uint64_t seed = 0;
};

struct TinyLM {
  Tensor wte, wq, wk, wv, wo, w1, w2, ln1, ln2, lnf, head;
  std::vector<Tensor*> params() {
    return {&wte, &wq, &wk, &wv, &wo, &w1, &w2, &ln1, &ln2, &lnf, &head};
  }
};

Tensor init(Shape s, double std) {
  return randn(std::move(s), DType::F32, 0.0, std).requires_grad_();
}

// logits (B, T, V) for ids (B, T): x = emb; x += attn(norm(x)); x += mlp(norm(x)); head(norm(x)).
Tensor forward(TinyLM& m, const Tensor& ids, const Tensor& cos_t, const Tensor& sin_t, int heads) {
  int64_t B = ids.size(0), T = ids.size(1), D = m.wte.size(1), Dh = D / heads;
  Tensor x = embedding(m.wte, ids);  // (B, T, D)
  Tensor h = rms_norm(x, m.ln1, 1e-5);
  auto split_heads = [&](const Tensor& t) { return t.reshape({B, T, heads, Dh}).transpose(1, 2); };
  Tensor q = rope(split_heads(linear(h, m.wq)), cos_t, sin_t, 0, false);  // (B, H, T, Dh)
  Tensor k = rope(split_heads(linear(h, m.wk)), cos_t, sin_t, 0, false);
  Tensor v = split_heads(linear(h, m.wv));
  AttentionOptions opts;
  opts.causal = true;
  Tensor a = scaled_dot_product_attention(q, k, v, Tensor(), opts);  // (B, H, T, Dh)
  x = x + linear(a.transpose(1, 2).reshape({B, T, D}), m.wo);
  h = rms_norm(x, m.ln2, 1e-5);
  x = x + linear(silu(linear(h, m.w1)), m.w2);
  return linear(rms_norm(x, m.lnf, 1e-5), m.head);  // (B, T, V)
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  Tensor lp = log_softmax(logits, -1);
  return neg(mean(gather(lp, -1, targets.unsqueeze(-1))));
}

int run_demo(const DemoOptions& o) {
  manual_seed(o.seed);
  std::string text = kText;
  std::vector<char> vocab;
  int id_of[256] = {0};
  for (unsigned char c : text) {
    if (std::find(vocab.begin(), vocab.end(), char(c)) == vocab.end()) {
      id_of[c] = int(vocab.size());
      vocab.push_back(char(c));
    }
  }
  int64_t V = int64_t(vocab.size()), D = o.dim, heads = 4;
  std::vector<int64_t> data;
  for (unsigned char c : text) data.push_back(id_of[c]);
  std::printf(
      "lazarus demo: a 1-layer transformer (%lld-dim, %lld heads, %lld-char vocab) learns a "
      "%zu-char text\n",
      (long long)D, (long long)heads, (long long)V, text.size());

  TinyLM m;
  double s = 0.02;
  m.wte = init({V, D}, s);
  m.wq = init({D, D}, s);
  m.wk = init({D, D}, s);
  m.wv = init({D, D}, s);
  m.wo = init({D, D}, s / std::sqrt(2.0));
  m.w1 = init({4 * D, D}, s);
  m.w2 = init({D, 4 * D}, s / std::sqrt(2.0));
  m.ln1 = ones({D}).requires_grad_();
  m.ln2 = ones({D}).requires_grad_();
  m.lnf = ones({D}).requires_grad_();
  m.head = init({V, D}, s);
  auto [cos_t, sin_t] = rope_tables(D / heads, o.seq, 10000.0);

  // Adam state
  std::vector<Tensor> mom, vel;
  for (Tensor* p : m.params()) {
    mom.push_back(zeros_like(*p));
    vel.push_back(zeros_like(*p));
  }
  Generator batch_gen(o.seed + 1);
  auto t0 = std::chrono::steady_clock::now();
  double first = 0, last = 0;
  for (int step = 1; step <= o.steps; ++step) {
    Tensor starts = randint(0, int64_t(data.size()) - o.seq - 1, {o.batch}, &batch_gen);
    std::vector<int64_t> xs, ys;
    for (int64_t st : starts.to_vector<int64_t>()) {
      for (int t = 0; t < o.seq; ++t) {
        xs.push_back(data[st + t]);
        ys.push_back(data[st + t + 1]);
      }
    }
    Tensor ids = from_vector<int64_t>(xs, {o.batch, o.seq}, DType::I64);
    Tensor tgt = from_vector<int64_t>(ys, {o.batch, o.seq}, DType::I64);
    Tensor loss = cross_entropy(forward(m, ids, cos_t, sin_t, int(heads)), tgt);
    for (Tensor* p : m.params()) p->zero_grad();
    loss.backward();
    {
      NoGradGuard ng;
      double b1 = 0.9, b2 = 0.99, eps = 1e-8;
      double c1 = 1 - std::pow(b1, step), c2 = 1 - std::pow(b2, step);
      auto ps = m.params();
      for (size_t i = 0; i < ps.size(); ++i) {
        Tensor g = ps[i]->grad();
        mom[i] = mom[i] * b1 + g * (1 - b1);
        vel[i] = vel[i] * b2 + g * g * (1 - b2);
        Tensor upd = (mom[i] / c1) / (sqrt(vel[i] / c2) + eps) * o.lr;
        Tensor np = (ps[i]->detach() - upd).contiguous();
        np.requires_grad_();
        *ps[i] = np;
      }
    }
    double lv = loss.item();
    if (step == 1) first = lv;
    last = lv;
    if (step == 1 || step % 25 == 0) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("step %4d  loss %.4f  (%.1f s)\n", step, lv, secs);
      std::fflush(stdout);
    }
  }
  std::printf("loss fell from %.3f to %.3f (uniform guess: %.3f)\n", first, last,
              std::log(double(V)));

  // Greedy sample from the trained model.
  NoGradGuard ng;
  std::vector<int64_t> ctx(data.begin(), data.begin() + 12);
  std::string out(text.begin(), text.begin() + 12);
  for (int i = 0; i < 80; ++i) {
    std::vector<int64_t> win(ctx.end() - std::min<size_t>(ctx.size(), size_t(o.seq)), ctx.end());
    Tensor ids = from_vector<int64_t>(win, {1, int64_t(win.size())}, DType::I64);
    Tensor logits = forward(m, ids, cos_t, sin_t, int(heads));
    int64_t next = argmax(logits.select(1, -1), -1).to_vector<int64_t>()[0];
    ctx.push_back(next);
    out += vocab[next];
  }
  std::printf("sample: \"%s\"\n", out.c_str());
  return last < first ? 0 : 1;
}

}  // namespace

void register_demo_command(CLI::App& app) {
  auto opts = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Train a tiny transformer on a short text with autograd and print the loss falling");
  cmd->add_option("--steps", opts->steps, "Optimizer steps")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--batch", opts->batch, "Sequences per step")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--seq", opts->seq, "Characters per sequence")
      ->capture_default_str()
      ->check(CLI::Range(2, 256));
  cmd->add_option("--dim", opts->dim, "Model width (multiple of 4)")
      ->capture_default_str()
      ->check(CLI::Range(8, 1024));
  cmd->add_option("--lr", opts->lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Random seed")->capture_default_str();
  cmd->add_option_function<int>(
      "--threads", [](const int& n) { lazarus::set_num_threads(n); },
      "Threads (default: LAZARUS_NUM_THREADS or all cores)");
  cmd->callback([opts] {
    int rc = run_demo(*opts);
    if (rc != 0) throw lazarus::Error("[demo] the loss did not fall");
  });
}

}  // namespace lazarus::cli
