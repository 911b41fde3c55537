// What every fuzz target reads first from its bytes: a DecodeConfig (each field of
// ASTCD_DECODE_CONFIG, so a new field is fuzzed without touching this file), a start and an
// arity. Engines are cached by the bytes that chose their config, since building one costs far
// more than a run of a target.
#ifndef ASTCD_TESTS_FUZZ_FUZZ_INPUT_H_
#define ASTCD_TESTS_FUZZ_FUZZ_INPUT_H_

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/engine.h"
#include "core/errors.h"

namespace astcd::fuzz {

// A fuzz target's own invariant failed: print it and abort, so libFuzzer saves the input.
#define ASTCD_FUZZ_CHECK(cond, ...)                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,      \
                   __LINE__, #cond);                                       \
      std::fprintf(stderr, "  " __VA_ARGS__);                              \
      std::fprintf(stderr, "\n");                                          \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

// Config bytes: enough for every field (a keep-or-change byte and a value); a fixed width, so
// the rest of the input keeps its meaning when the config changes. Zeros are the defaults.
inline constexpr size_t kConfigBytes = 40;

namespace internal {

// Each field's value from the bytes, small enough that engines build fast; ValidateConfig
// then decides, and a field it refuses falls back to its default (the error names the field).
inline void Choose(FuzzedDataProvider& in, const DecodeConfig::IntList& widest,
                   DecodeConfig::IntList* value) {
  const unsigned pick = in.ConsumeIntegral<uint8_t>();
  value->clear();
  for (size_t i = 0; i < widest.size() && i < 8; ++i) {
    if (pick & (1u << i)) value->push_back(widest[i]);
  }
}
inline void Choose(FuzzedDataProvider& in, int widest, int* value) {
  *value = in.ConsumeIntegralInRange<int>(0, std::min(widest, 6));
}
inline void Choose(FuzzedDataProvider& in, bool, bool* value) { *value = in.ConsumeBool(); }
inline void Choose(FuzzedDataProvider& in, const DecodeConfig::Range&, DecodeConfig::Range* value) {
  static constexpr DecodeConfig::Range kRanges[] = {
      {0, 9}, {0, 0}, {1, 3}, {-3, 3}, {0, 40}, {-100, 100},
      {-(int64_t{1} << 31), (int64_t{1} << 31) - 1}, {-(int64_t{1} << 62), int64_t{1} << 62}};
  *value = kRanges[in.ConsumeIntegralInRange<size_t>(0, std::size(kRanges) - 1)];
}

inline void AppendKey(std::string* key, int v) { key->append(std::to_string(v)).push_back(','); }
inline void AppendKey(std::string* key, bool v) { key->push_back(v ? 't' : 'f'); }
inline void AppendKey(std::string* key, const DecodeConfig::IntList& v) {
  for (int x : v) AppendKey(key, x);
  key->push_back(';');
}
inline void AppendKey(std::string* key, const DecodeConfig::Range& v) {
  key->append(std::to_string(v.first)).append(":").append(std::to_string(v.second)).push_back(',');
}

}  // namespace internal

// The config the bytes choose: always valid.
inline DecodeConfig ConsumeConfig(FuzzedDataProvider& in) {
  const DecodeConfig widest = WidestConfig();
  DecodeConfig c;
#define ASTCD_FUZZ_FIELD(type, name, default_value, check) \
  if (in.ConsumeBool()) internal::Choose(in, widest.name, &c.name);
  ASTCD_DECODE_CONFIG(ASTCD_FUZZ_FIELD)
#undef ASTCD_FUZZ_FIELD
  const DecodeConfig defaults;
  for (absl::Status s = ValidateConfig(c); !s.ok(); s = ValidateConfig(c)) {
    const std::string field = FieldPathOf(s);
    bool reset = false;
#define ASTCD_FUZZ_RESET(type, name, default_value, check)                       \
  if (!reset && (field == #name || field.rfind(#name "[", 0) == 0 ||             \
                 field.rfind(#name ".", 0) == 0)) {                              \
    c.name = defaults.name;                                                      \
    reset = true;                                                                \
  }
    ASTCD_DECODE_CONFIG(ASTCD_FUZZ_RESET)
#undef ASTCD_FUZZ_RESET
    if (!reset) return defaults;  // a rule across fields: the defaults are valid
  }
  return c;
}

// The engine for the config of the next kConfigBytes bytes (fewer at the input's end).
inline std::shared_ptr<const Engine> ConsumeEngine(FuzzedDataProvider& in) {
  static auto* cache = new std::map<std::string, std::shared_ptr<const Engine>>();
  const std::string bytes = in.ConsumeBytesAsString(kConfigBytes);
  FuzzedDataProvider config_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  const DecodeConfig config = ConsumeConfig(config_bytes);
  std::string key;
#define ASTCD_FUZZ_KEY(type, name, default_value, check) internal::AppendKey(&key, config.name);
  ASTCD_DECODE_CONFIG(ASTCD_FUZZ_KEY)
#undef ASTCD_FUZZ_KEY
  auto it = cache->find(key);
  if (it != cache->end()) return it->second;
  absl::StatusOr<std::shared_ptr<const Engine>> engine = Engine::Create(config);
  ASTCD_FUZZ_CHECK(engine.ok(), "a valid config must build: %s",
                   std::string(engine.status().message()).c_str());
  if (cache->size() >= 256) cache->clear();  // bounds the harness's memory
  return cache->emplace(std::move(key), *std::move(engine)).first->second;
}

inline Start ConsumeStart(FuzzedDataProvider& in) {
  return static_cast<Start>(in.ConsumeIntegralInRange<int>(0, 3));
}

// An arity for BLOCK and EXPR roots: mostly one of the config's, sometimes any (refused).
inline std::optional<int> ConsumeArity(FuzzedDataProvider& in, const Engine& engine) {
  const int pick = in.ConsumeIntegralInRange<int>(0, 9);
  const std::vector<int>& arities = engine.config().arities;
  if (pick == 0) return std::nullopt;
  if (pick == 9) return in.ConsumeIntegralInRange<int>(-2, 30);
  return arities[static_cast<size_t>(pick) % arities.size()];
}

}  // namespace astcd::fuzz

#endif  // ASTCD_TESTS_FUZZ_FUZZ_INPUT_H_
