#include <xxhash.h>

#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::tokenizer {

uint64_t TokenIndex::hash(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

void TokenIndex::reserve(size_t tokens) {
  size_t cap = 16;
  while (cap < tokens * 2) cap <<= 1;
  if (cap <= slots_.size()) return;
  slots_.assign(cap, 0);
  mask_ = cap - 1;
  size_ = 0;
}

void TokenIndex::grow(const std::vector<std::string>& vocab) {
  std::vector<uint64_t> old;
  old.swap(slots_);
  size_t cap = old.empty() ? 16 : old.size() * 2;
  slots_.assign(cap, 0);
  mask_ = cap - 1;
  for (uint64_t slot : old) {
    if (!slot) continue;
    uint64_t h = hash(vocab[static_cast<uint32_t>(slot) - 1]);
    size_t i = h & mask_;
    while (slots_[i]) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
}

int64_t TokenIndex::insert(const std::vector<std::string>& vocab, uint32_t id) {
  if ((size_ + 1) * 2 > slots_.size()) grow(vocab);
  const std::string& token = vocab[id];
  uint64_t h = hash(token);
  auto tag = static_cast<uint32_t>(h >> 32);
  size_t i = h & mask_;
  while (slots_[i]) {
    uint64_t slot = slots_[i];
    auto other = static_cast<uint32_t>(slot) - 1;
    if (static_cast<uint32_t>(slot >> 32) == tag && vocab[other] == token) return other;
    i = (i + 1) & mask_;
  }
  slots_[i] = (uint64_t(tag) << 32) | (uint64_t(id) + 1);
  ++size_;
  return -1;
}

int64_t TokenIndex::find(const std::vector<std::string>& vocab, std::string_view token) const {
  if (slots_.empty()) return -1;
  uint64_t h = hash(token);
  auto tag = static_cast<uint32_t>(h >> 32);
  size_t i = h & mask_;
  while (slots_[i]) {
    uint64_t slot = slots_[i];
    auto id = static_cast<uint32_t>(slot) - 1;
    if (static_cast<uint32_t>(slot >> 32) == tag && vocab[id] == token) return id;
    i = (i + 1) & mask_;
  }
  return -1;
}

}  // namespace fromscratch::tokenizer
