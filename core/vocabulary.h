// The token vocabulary: a pure function of the config, with stable ids and a fingerprint.
#ifndef ASTCD_CORE_VOCABULARY_H_
#define ASTCD_CORE_VOCABULARY_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/config.h"
#include "core/grammar.h"

namespace astcd {

// Bumped whenever the token format changes; part of the fingerprint.
inline constexpr int kVocabFormatVersion = 1;

struct TokenInfo {
  std::string name;
  NodeKind node;
  int32_t value;  // def: arity; Name: variable index; Const: the integer; else 0
};

class Vocabulary {
 public:
  // `config` must be valid (ValidateConfig).
  explicit Vocabulary(const DecodeConfig& config);

  int size() const { return static_cast<int>(tokens_.size()); }
  const TokenInfo& info(int id) const { return tokens_[id]; }
  // "special", "function", "statement", "block_end", "operator", "variable" or "constant".
  absl::string_view kind_name(int id) const { return TokenKindName(Spec(tokens_[id].node).kind); }
  const std::vector<TokenInfo>& tokens() const { return tokens_; }
  static constexpr int pad_id() { return 0; }
  static constexpr int eos_id() { return 1; }

  int id(NodeKind node) const { return kind_id_[static_cast<int>(node)]; }  // -1 for families
  int def_id(int arity) const;                // -1 if the arity is not configured
  int name_id(int var) const { return name_base_ + var; }
  int const_id(int64_t value) const { return const_base_ + static_cast<int>(value - const_lo_); }
  int name_base() const { return name_base_; }
  int num_names() const { return num_names_; }
  int const_base() const { return const_base_; }
  std::optional<int> Find(absl::string_view name) const;

  // FNV-1a 64 over the format version and every (id, name, kind), as 16 hex digits.
  const std::string& fingerprint() const { return fingerprint_; }

  // Heap bytes it holds (its token table, names and name index), not sizeof(Vocabulary).
  int64_t ApproxHeapBytes() const;

 private:
  std::vector<TokenInfo> tokens_;
  std::vector<int> kind_id_;
  std::vector<int> def_ids_;  // by arity 0..6
  int name_base_ = 0, num_names_ = 0, const_base_ = 0;
  int64_t const_lo_ = 0;
  absl::flat_hash_map<std::string, int> by_name_;
  std::string fingerprint_;
};

// Canonical names: variable i is 'a' + i; function i of a module is func, func1, func2, ...
std::string VariableName(int var);
std::string FunctionName(int index);

}  // namespace astcd

#endif  // ASTCD_CORE_VOCABULARY_H_
