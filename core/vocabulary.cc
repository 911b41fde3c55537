#include "core/vocabulary.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace astcd {

std::string VariableName(int var) { return std::string(1, static_cast<char>('a' + var)); }

std::string FunctionName(int index) {
  return index == 0 ? std::string("func") : absl::StrCat("func", index);
}

Vocabulary::Vocabulary(const DecodeConfig& config)
    : kind_id_(kNumNodeKinds, -1), def_ids_(7, -1) {
  std::vector<int> arities = config.arities;
  std::sort(arities.begin(), arities.end());
  for (const NodeSpec& spec : kGrammar) {
    switch (spec.kind) {
      case TokenKind::kPseudo:
        break;
      case TokenKind::kFunction:
        for (int arity : arities) {
          def_ids_[arity] = size();
          tokens_.push_back({absl::StrCat(spec.token, "/", arity), spec.node, arity});
        }
        break;
      case TokenKind::kVariable:
        name_base_ = size();
        num_names_ = config.num_names();
        for (int v = 0; v < num_names_; ++v) tokens_.push_back({VariableName(v), spec.node, v});
        break;
      case TokenKind::kConstant:
        const_base_ = size();
        const_lo_ = config.const_range.first;
        for (int64_t c = config.const_range.first; c <= config.const_range.second; ++c) {
          tokens_.push_back({absl::StrCat(c), spec.node, static_cast<int32_t>(c)});
        }
        break;
      default:
        kind_id_[static_cast<int>(spec.node)] = size();
        tokens_.push_back({std::string(spec.token), spec.node, 0});
    }
  }
  uint64_t hash = 14695981039346656037ull;
  auto mix = [&hash](absl::string_view bytes) {
    for (unsigned char ch : bytes) {
      hash ^= ch;
      hash *= 1099511628211ull;
    }
  };
  mix(absl::StrCat("astcd-vocab/", kVocabFormatVersion, "\n"));
  for (int id = 0; id < size(); ++id) {
    by_name_.emplace(tokens_[id].name, id);
    mix(absl::StrCat(id, "\t", tokens_[id].name, "\t",
                     kind_name(id), "\n"));
  }
  fingerprint_ = absl::StrFormat("%016x", hash);
}

int Vocabulary::def_id(int arity) const {
  return arity >= 0 && arity < static_cast<int>(def_ids_.size()) ? def_ids_[arity] : -1;
}

std::optional<int> Vocabulary::Find(absl::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

int64_t Vocabulary::ApproxHeapBytes() const {
  // A string's heap buffer, when it has one (beyond the small-string buffer).
  auto string_heap = [](const std::string& text) -> int64_t {
    return text.capacity() > 15 ? static_cast<int64_t>(text.capacity()) + 1 : 0;
  };
  int64_t bytes = static_cast<int64_t>(tokens_.capacity() * sizeof(TokenInfo));
  for (const TokenInfo& t : tokens_) bytes += string_heap(t.name);
  bytes += static_cast<int64_t>((kind_id_.capacity() + def_ids_.capacity()) * sizeof(int));
  // A flat_hash_map's slots and one control byte a slot (plus a group's worth).
  bytes += static_cast<int64_t>(by_name_.capacity() *
                                    (sizeof(std::pair<const std::string, int>) + 1) + 16);
  for (const auto& [name, id] : by_name_) bytes += string_heap(name);
  bytes += string_heap(fingerprint_);
  return bytes;
}

}  // namespace astcd
