// tokenize: the bytes as Python source, whole or partial, under a config, start and arity they
// choose. Whatever Tokenize answers must hold together: an accepted source's tokens print to
// its normalized source, which tokenizes to the same tokens; a refused one's prefix is legal.
#include <string>

#include "core/codec.h"
#include "core/decoder.h"
#include "core/tokenize.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace astcd;
  FuzzedDataProvider in(data, size);
  std::shared_ptr<const Engine> engine = fuzz::ConsumeEngine(in);
  TokenizeOptions options;
  options.start = fuzz::ConsumeStart(in);
  options.arity = fuzz::ConsumeArity(in, *engine);
  options.partial = in.ConsumeBool();
  options.max_len = in.ConsumeIntegralInRange<int>(0, 400);
  const std::string source = in.ConsumeRemainingBytesAsString();
  const TokenizeResult result = Tokenize(engine, source, options);

  // The tokens, accepted or the refused source's longest valid prefix, replay legally.
  InitRequest request;
  request.start = options.start;
  request.arity = options.arity;
  request.max_len = kMaxLenLimit;
  absl::StatusOr<DecodeState> replay = InitState(engine, request);
  if (replay.ok()) {
    for (int32_t token : result.tokens) {
      absl::Status st = replay->Advance(token);
      ASTCD_FUZZ_CHECK(st.ok(), "Tokenize's token %d does not replay: %s", token,
                       std::string(st.message()).c_str());
    }
  }
  if (!result.ok) {
    ASTCD_FUZZ_CHECK(result.error.has_value(), "a refusal without an error");
    return 0;
  }
  ASTCD_FUZZ_CHECK(result.state.has_value() && result.state->tokens() == result.tokens,
                   "the state does not hold the tokens");
  ASTCD_FUZZ_CHECK(options.partial || result.state->terminated(),
                   "a whole source's state must end with <eos>");

  // Round trip: the normalized source is a fixed point (a partial one prints its holes as
  // placeholders, which are not Python).
  if (options.partial) return 0;
  TokenizeOptions again = options;
  again.max_len = 0;
  const TokenizeResult second = Tokenize(engine, result.normalized_source, again);
  ASTCD_FUZZ_CHECK(second.ok, "the normalized source is refused:\n%s",
                   result.normalized_source.c_str());
  ASTCD_FUZZ_CHECK(second.tokens == result.tokens, "the normalized source tokenizes differently");
  ASTCD_FUZZ_CHECK(second.normalized_source == result.normalized_source,
                   "normalizing is not idempotent");
  absl::StatusOr<std::string> printed = TokensToSource(
      engine, options.start,
      result.state->arity() >= 0 ? std::optional<int>(result.state->arity()) : std::nullopt,
      result.tokens, /*partial=*/false);
  ASTCD_FUZZ_CHECK(printed.ok() && *printed == result.normalized_source,
                   "the tokens print to another source");
  return 0;
}
