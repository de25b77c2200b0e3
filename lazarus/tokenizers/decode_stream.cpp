// Streaming detokenization (see DecodeStream in tokenizer.h). Like HF's DecodeStream, it decodes a
// short window (the last emitted token(s) as context, then the new ids) and emits only what the
// window adds beyond the context, holding text back while it ends in U+FFFD (an incomplete UTF-8
// sequence). finish() reconciles with a full decode, so the pieces always add up to decode(ids).
#include "lazarus/tokenizers/tokenizer_impl.h"

namespace lazarus::tokenizers {

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
}  // namespace

bool DecodeStream::is_byte_token(std::uint32_t id) const {
  if (impl_->added.by_id(id)) return false;
  const std::string* t = impl_->model->id_to_token(id);
  return t && t->size() == 6 && t->compare(0, 3, "<0x") == 0 && (*t)[5] == '>';
}

std::string DecodeStream::decode_window() const { return impl_->decode(ids_, skip_special_); }

std::string DecodeStream::step(std::uint32_t id) {
  ids_.push_back(id);
  all_ids_.push_back(id);
  if (impl_->decoder_byte_fallback && is_byte_token(id)) return {};  // the byte run may go on
  const std::string text = decode_window();
  if (text.size() <= prefix_.size() || ends_with(text, kReplacement) ||
      text.compare(0, prefix_.size(), prefix_) != 0) {
    return {};
  }
  std::string fresh = text.substr(prefix_.size());
  // The ids just emitted become the context of the next window.
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_ids_));
  prefix_ids_ = ids_.size();
  prefix_ = decode_window();
  emitted_bytes_ += fresh.size();
  return fresh;
}

std::string DecodeStream::finish() {
  const std::string full = impl_->decode(all_ids_, skip_special_);
  std::string rest;
  if (full.size() >= emitted_bytes_) rest = full.substr(emitted_bytes_);
  ids_.clear();
  all_ids_.clear();
  prefix_.clear();
  prefix_ids_ = 0;
  emitted_bytes_ = 0;
  return rest;
}

}  // namespace lazarus::tokenizers
