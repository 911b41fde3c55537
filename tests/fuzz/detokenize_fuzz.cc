// detokenize: the bytes as token ids (out-of-range ones included), whole or partial, from every
// start. A refusal names the first bad position, and the tokens before it are a legal prefix;
// an accepted whole stream's source tokenizes back to the same tokens.
#include <string>
#include <vector>

#include "core/codec.h"
#include "core/decoder.h"
#include "core/tokenize.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace astcd;
  FuzzedDataProvider in(data, size);
  std::shared_ptr<const Engine> engine = fuzz::ConsumeEngine(in);
  const Start start = fuzz::ConsumeStart(in);
  const std::optional<int> arity = fuzz::ConsumeArity(in, *engine);
  const bool partial = in.ConsumeBool();
  const int vocab = engine->vocab().size();
  std::vector<int32_t> tokens;
  while (in.remaining_bytes() > 0 && tokens.size() < 2048) {
    // Mostly ids of the vocabulary; now and then one outside it, either side.
    const uint8_t b = in.ConsumeIntegral<uint8_t>();
    tokens.push_back(b < 250 ? b % vocab : in.ConsumeIntegral<int32_t>());
  }
  const DetokenizeResult result = Detokenize(engine, start, arity, tokens, partial);
  if (!result.ok) {
    ASTCD_FUZZ_CHECK(!result.error.empty(), "a refusal without a message");
    InitRequest request;
    request.start = start;
    request.arity = arity;
    request.max_len = kMaxLenLimit;
    absl::StatusOr<DecodeState> state = InitState(engine, request);
    // No position: the start and arity themselves are refused, before any token.
    ASTCD_FUZZ_CHECK((result.position == -1) == !state.ok(), "position %d, arity %s",
                     result.position, state.ok() ? "accepted" : "refused");
    if (!state.ok()) return 0;
    ASTCD_FUZZ_CHECK(result.position <= static_cast<int>(tokens.size()),
                     "position %d outside the list", result.position);
    // Every token before the named position is legal where it stands.
    for (int i = 0; i < result.position && !state->terminated(); ++i) {
      ASTCD_FUZZ_CHECK(state->Advance(tokens[i]).ok(), "token %d before position %d is refused",
                       i, result.position);
    }
    return 0;
  }
  ASTCD_FUZZ_CHECK(result.position == -1, "an accepted list with a position");
  if (partial) return 0;
  // The source is the program: it tokenizes to the tokens, up to and with <eos>.
  TokenizeOptions options;
  options.start = start;
  options.arity = arity;
  const TokenizeResult again = Tokenize(engine, result.source, options);
  ASTCD_FUZZ_CHECK(again.ok, "the printed source is refused:\n%s", result.source.c_str());
  std::vector<int32_t> expected;
  for (int32_t t : tokens) {
    expected.push_back(t);
    if (t == Vocabulary::eos_id()) break;
  }
  if (expected.empty() || expected.back() != Vocabulary::eos_id()) {
    expected.push_back(Vocabulary::eos_id());
  }
  ASTCD_FUZZ_CHECK(again.tokens == expected, "the printed source tokenizes differently:\n%s",
                   result.source.c_str());
  return 0;
}
