#include "core/sampler.h"

#include "core/errors.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace astcd {
namespace {

constexpr int kMaxVocab = 2048;

// The room below a depth limit that damps tokens opening holes, in [0.05, 1].
double DepthRoom(int depth, int max_depth) {
  return max_depth > 0 ? std::max(0.05, 1.0 - static_cast<double>(depth) / max_depth) : 0.05;
}

// The position of the k-th set bit of a word (k < its popcount), found by halving without
// branches: clearing bits one by one mispredicted on every pick (a quarter of a walk's
// mispredicts).
int SelectInWord(uint32_t bits, uint32_t k) {
  int pos = 0;
  for (int width = 16; width > 0; width /= 2) {
    const uint32_t low = bits & ((1u << width) - 1);
    const uint32_t count = static_cast<uint32_t>(std::popcount(low));
    const uint32_t above = 0u - static_cast<uint32_t>(k >= count);  // all ones, or zero
    pos += static_cast<int>(static_cast<uint32_t>(width) & above);
    k -= count & above;
    bits = ((bits >> width) & above) | (low & ~above);
  }
  return pos;
}

// The token behind the k-th set bit of the mask (k counts from 0).
int32_t NthSetBit(const uint32_t* mask, int words, uint64_t k) {
  for (int w = 0; w < words; ++w) {
    const uint32_t bits = mask[w];
    const int count = std::popcount(bits);
    if (k >= static_cast<uint64_t>(count)) {
      k -= count;
      continue;
    }
    return w * 32 + SelectInWord(bits, static_cast<uint32_t>(k));
  }
  return -1;
}

// The grammar table's weights, keyed as a policy would key them: statements, `end` and
// operators by token name; the family and special rows by their token kind.
const std::map<std::string, double>& DefaultWeights() {
  static const auto* weights = [] {
    auto* w = new std::map<std::string, double>();
    for (const NodeSpec& spec : kGrammar) {
      switch (spec.kind) {
        case TokenKind::kPseudo: break;
        case TokenKind::kStatement:
        case TokenKind::kBlockEnd:
        case TokenKind::kOperator: w->emplace(spec.token, spec.weight); break;
        default: w->emplace(TokenKindName(spec.kind), spec.weight); break;
      }
    }
    return w;
  }();
  return *weights;
}

}  // namespace

uint64_t Rng::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Rng::Below(uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
}

double Rng::Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

uint64_t StreamSeed(uint64_t seed, uint64_t input_index, uint64_t sample_index) {
  Rng mix(seed ^ 0x6a09e667f3bcc909ull);
  uint64_t h = mix.Next();
  mix = Rng(h ^ input_index);
  h = mix.Next();
  mix = Rng(h ^ (sample_index * 0x9e3779b97f4a7c15ull));
  return mix.Next();
}

int32_t UniformSampler::Choose(const DecodeState& state, const uint32_t* mask, Rng& rng) const {
  const int words = state.engine().words();
  int total = 0;
  for (int w = 0; w < words; ++w) total += std::popcount(mask[w]);
  return NthSetBit(mask, words, rng.Below(total));
}

absl::StatusOr<std::unique_ptr<WeightedSampler>> WeightedSampler::Create(
    uint64_t seed, const PolicyConfig& policy, std::shared_ptr<const Engine> engine) {
  if (!(policy.depth_pressure >= 0) || !(policy.budget_pressure >= 0)) {
    return absl::InvalidArgumentError("policy depth_pressure and budget_pressure must be >= 0");
  }
  std::unique_ptr<WeightedSampler> sampler(new WeightedSampler(seed, policy, engine));
  const Vocabulary& vocab = engine->vocab();
  if (vocab.size() > kMaxVocab) {
    return absl::InvalidArgumentError(absl::StrCat("the weighted sampler handles at most ",
                                                   kMaxVocab, " tokens"));
  }
  std::map<std::string, double> weights = DefaultWeights();
  for (const auto& [key, value] : policy.weights) {
    const std::optional<TokenKind> kind = FindEnum<TokenKind>(key);
    const bool is_kind = kind.has_value() && *kind != TokenKind::kPseudo;
    if (!vocab.Find(key).has_value() && !is_kind) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy weight '", key, "' names no token and no token kind"));
    }
    if (!(value >= 0) || !std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy weight '", key, "' = ", value, " must be finite and >= 0"));
    }
    weights[key] = value;
  }
  sampler->weight_.resize(vocab.size());
  sampler->traits_.resize(vocab.size());
  for (auto& words : sampler->shared_words_) words.assign(engine->words(), 0);
  for (int id = 0; id < vocab.size(); ++id) {
    const TokenInfo& info = vocab.info(id);
    const TokenKind kind = Spec(info.node).kind;
    uint8_t traits = 0;
    if (auto it = weights.find(info.name); it != weights.end()) {
      sampler->weight_[id] = it->second;
    } else {
      auto kit = weights.find(std::string(TokenKindName(kind)));
      sampler->weight_[id] = kit == weights.end() ? 1.0 : kit->second;
      if (kind == TokenKind::kVariable || kind == TokenKind::kConstant) {
        const int which = kind == TokenKind::kConstant;
        traits |= which ? kSharedConstant : kSharedVariable;
        sampler->shared_words_[which][id / 32] |= uint32_t{1} << (id % 32);
      }
    }
    if (engine->token_cost(id) > 1) traits |= kOpensHoles;
    if (info.node == NodeKind::kEnd) traits |= kEnd;
    sampler->traits_[id] = traits;
  }
  const DecodeConfig& config = engine->config();
  for (int i : {0, 1}) {
    const int limit = i == 0 ? config.max_expr_depth : config.max_control_depth;
    sampler->depth_limits_[i] = limit;
    for (int depth = 0; depth <= limit; ++depth) {
      sampler->depth_factors_[i].push_back(
          std::pow(DepthRoom(depth, limit), policy.depth_pressure));
    }
  }
  return sampler;
}

double WeightedSampler::DepthFactor(int depth, int max_depth) const {
  for (int i : {0, 1}) {
    if (max_depth == depth_limits_[i] && depth >= 0 && depth <= max_depth) {
      return depth_factors_[i][depth];
    }
  }
  return std::pow(DepthRoom(depth, max_depth), policy_.depth_pressure);
}

double WeightedSampler::Opening(const HoleView& hole, int max_len) const {
  const double budget_room = std::min(1.0, 4.0 * hole.slack / std::max(1, max_len));
  const double budget = std::max(budget_room, 0.01);
  // pow(1, y) is exactly 1 (C11 F.10.4.4): the common case while the budget is roomy.
  return DepthFactor(hole.depth, hole.max_depth) *
         (budget == 1.0 ? 1.0 : std::pow(budget, policy_.budget_pressure));
}

int32_t WeightedSampler::Choose(const DecodeState& state, const uint32_t* mask, Rng& rng) const {
  return Choose(state, mask, state.hole_view(), rng);
}

int32_t WeightedSampler::Choose(const DecodeState& state, const uint32_t* mask,
                                const HoleView& hole, Rng& rng) const {
  const Engine& engine = *engine_;
  const int words = engine.words();
  const double opening = Opening(hole, state.max_len());
  int shared_count[2] = {0, 0};  // legal variables, legal constants
  for (int w = 0; w < words; ++w) {
    shared_count[0] += std::popcount(mask[w] & shared_words_[0][w]);
    shared_count[1] += std::popcount(mask[w] & shared_words_[1][w]);
  }
  // The config's ranges cap the vocabulary near 1,100 tokens (7 defs, 26 names, 1024
  // constants and the fixed rows), so the legal tokens always fit (checked in Create).
  double total = 0;
  double weights[kMaxVocab];
  int ids[kMaxVocab];
  int n = 0;
  // A kind's share, divided once per distinct weight (the legal constants usually share one):
  // the same quotient, so the same picks, without a division per legal token.
  double shared_weight[2] = {-1, -1}, shared_share[2] = {0, 0};
  for (int w = 0; w < words; ++w) {
    for (uint32_t bits = mask[w]; bits; bits &= bits - 1) {
      const int id = w * 32 + std::countr_zero(bits);
      const uint8_t traits = traits_[id];
      double weight = weight_[id];
      if (traits & (kSharedVariable | kSharedConstant)) {
        const int kind = (traits & kSharedConstant) != 0;
        if (weight != shared_weight[kind]) {
          shared_weight[kind] = weight;
          shared_share[kind] = weight / shared_count[kind];
        }
        weight = shared_share[kind];
      }
      if (traits & kOpensHoles) weight *= opening;
      if (traits & kEnd) weight *= 1 + hole.items;
      weights[n] = weight;
      ids[n++] = id;
      total += weight;
    }
  }
  if (!(total > 0)) return NthSetBit(mask, words, rng.Below(n));  // all weights zero: uniform
  double pick = rng.Unit() * total;
  for (int i = 0; i < n; ++i) {
    pick -= weights[i];
    if (pick < 0) return ids[i];
  }
  for (int i = n - 1; i >= 0; --i) {  // rounding: the last token with weight
    if (weights[i] > 0) return ids[i];
  }
  return ids[n - 1];
}

absl::StatusOr<std::unique_ptr<Sampler>> MakeSampler(absl::string_view kind, uint64_t seed,
                                                     const PolicyConfig& policy,
                                                     std::shared_ptr<const Engine> engine) {
  absl::StatusOr<SamplerKind> parsed = ParseEnum<SamplerKind>(kind);
  if (!parsed.ok()) return parsed.status();
  if (*parsed == SamplerKind::kUniform) {
    // Weights would be silently ignored: say so instead.
    if (!policy.weights.empty()) {
      return FieldStatus(absl::StatusCode::kInvalidArgument, "weights",
                         "the uniform sampler takes no weights; use kind weighted");
    }
    return std::make_unique<UniformSampler>(seed);
  }
  absl::StatusOr<std::unique_ptr<WeightedSampler>> s =
      WeightedSampler::Create(seed, policy, std::move(engine));
  if (!s.ok()) return s.status();
  return std::unique_ptr<Sampler>(std::move(*s));
}

}  // namespace astcd
