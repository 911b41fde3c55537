// remote_walk: a random walk through the legal masks of astcd-server, with the C++ client.
//
// usage: remote_walk_example HOST:PORT
//
// Starts 8 FUNCTION sessions, picks a random legal token for each from its mask until every
// session has taken <eos>, prints each program's source and what it returns on (7, 3), one
// JSON line per program, and releases the sessions. Exits 1 on any error.
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "client/remote_decoder.h"

namespace {

using astcd::client::MaskRows;
using astcd::client::Session;

int Fail(const absl::Status& status) {
  std::cerr << "remote_walk: " << status << "\n";
  return 1;
}

// A JSON string literal.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A run's value as JSON: an int, true/false, or null for None.
std::string Json(const astcd::Value& v) {
  if (v.is_int()) return std::to_string(v.i);
  if (v.is_bool()) return v.i ? "true" : "false";
  return "null";
}

// A uniformly random token among those legal in row `row` of `masks`.
int32_t PickLegal(const MaskRows& masks, int row, std::mt19937& rng) {
  std::vector<int32_t> legal;
  for (int32_t t = 0; t < masks.vocab_size; ++t) {
    if (masks.IsLegal(row, t)) legal.push_back(t);
  }
  std::uniform_int_distribution<size_t> pick(0, legal.size() - 1);
  return legal[pick(rng)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: remote_walk_example HOST:PORT\n";
    return 1;
  }
  std::unique_ptr<astcd::client::RemoteDecoder> decoder =
      astcd::client::RemoteDecoder::Connect(argv[1]);

  astcd::DecodeConfig config;
  config.arities = {2};  // every function takes (a, b)
  astcd::InitRequest request;
  request.start = astcd::Start::kFunction;
  request.max_len = 48;
  const std::vector<astcd::InitRequest> requests(8, request);

  // New sessions, and their first masks in the same call.
  MaskRows masks;
  absl::StatusOr<std::vector<Session>> created = decoder->InitStates(config, requests, &masks);
  if (!created.ok()) return Fail(created.status());
  std::vector<Session>& sessions = *created;

  // live[k] is the session whose mask is row k of `masks`.
  std::vector<size_t> live;
  for (size_t i = 0; i < sessions.size(); ++i) live.push_back(i);
  std::mt19937 rng(2024);
  while (!live.empty()) {
    std::vector<Session> batch;
    std::vector<int32_t> picks;
    for (size_t k = 0; k < live.size(); ++k) {
      batch.push_back(sessions[live[k]]);
      picks.push_back(PickLegal(masks, static_cast<int>(k), rng));  // a model would sample here
    }
    // One token per session, and the next masks, in one round trip.
    if (absl::Status s = decoder->Advance(absl::MakeSpan(batch), picks, &masks); !s.ok()) {
      return Fail(s);
    }
    // Keep the sessions that have not taken <eos> yet, and their mask rows.
    std::vector<size_t> still;
    MaskRows next = masks;
    next.words.clear();
    for (size_t k = 0; k < live.size(); ++k) {
      sessions[live[k]] = batch[k];
      if (batch[k].terminated) continue;
      still.push_back(live[k]);
      const absl::Span<const int32_t> row = masks.row(static_cast<int>(k));
      next.words.insert(next.words.end(), row.begin(), row.end());
    }
    live = std::move(still);
    masks = std::move(next);
  }

  // Each session keeps its tokens; turn them into source.
  std::vector<std::vector<int32_t>> programs;
  for (const Session& s : sessions) programs.push_back(s.tokens);
  absl::StatusOr<std::vector<astcd::DetokenizeResult>> sources = decoder->Detokenize(
      config, astcd::Start::kFunction, std::nullopt, programs, /*partial=*/false);
  if (!sources.ok()) return Fail(sources.status());

  // Run each program on (7, 3): the server runs a live session's tokens.
  const std::vector<std::vector<int64_t>> inputs = {{7, 3}};
  for (size_t i = 0; i < sessions.size(); ++i) {
    astcd::client::RunProgram program;
    program.session_id = sessions[i].id;
    program.start = astcd::Start::kFunction;
    absl::StatusOr<std::vector<astcd::RunOutcome>> outcomes =
        decoder->Run(config, program, inputs, astcd::RunOptions{});
    if (!outcomes.ok()) return Fail(outcomes.status());
    const astcd::RunOutcome& o = (*outcomes)[0];
    std::cout << "{\"program\": " << i << ", \"source\": " << Quote((*sources)[i].source)
              << ", \"status\": " << Quote(std::string(astcd::RunStatusName(o.status)))
              << ", \"value\": " << Json(o.value) << "}\n";
  }

  absl::StatusOr<int> released = decoder->Release(sessions);
  if (!released.ok()) return Fail(released.status());
  return 0;
}
