// Placeholder so the object library is never empty; replaced as the tokenizer lands.
namespace lazarus::tokenizers {
int placeholder_symbol() { return 0; }
}  // namespace lazarus::tokenizers
