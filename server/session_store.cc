#include "server/session_store.h"

#include <sys/random.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/errors.h"
#include "server/memory.h"
#include "absl/strings/str_join.h"

namespace astcd::server {

std::string NewSessionId() {
  unsigned char buf[16];
  size_t got = 0;
  while (got < sizeof(buf)) {
    const ssize_t n = getrandom(buf + got, sizeof(buf) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::ifstream urandom("/dev/urandom", std::ios::binary);  // kernels without getrandom
      if (!urandom.read(reinterpret_cast<char*>(buf), sizeof(buf))) std::abort();
      got = sizeof(buf);
      break;
    }
    got += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(buf), sizeof(buf)));
}

SessionStore::SessionStore(SessionStoreOptions options) : options_(std::move(options)) {
  if (options_.num_shards < 1) options_.num_shards = 1;
  if (!options_.new_id) options_.new_id = NewSessionId;
  for (int i = 0; i < options_.num_shards; ++i) shards_.push_back(std::make_unique<Shard>());
  if (options_.sweep_interval > absl::ZeroDuration()) {
    sweeper_ = std::thread([this] {
      const auto interval = absl::ToChronoNanoseconds(options_.sweep_interval);
      for (;;) {
        {
          MutexLock lock(&stop_mu_);
          // One interval, or until the destructor (a spurious wakeup just sweeps early).
          if (!stopping_) stop_cv_.WaitFor(&stop_mu_, interval);
          if (stopping_) return;
        }
        Sweep();
        TrimIfFreed();
      }
    });
  }
}

SessionStore::~SessionStore() {
  {
    MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  stop_cv_.NotifyAll();
  if (sweeper_.joinable()) sweeper_.join();
}

namespace {

// Bytes i..i+7 with byte i in the low bits, whatever the host's order.
uint64_t LoadLittle(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, sizeof(x));
  if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap64(x);
  return x;
}

// The bytes of x (each below 0x80) that lie in [lo, hi]: 0x80 in each such byte.
constexpr uint64_t kOnes = 0x0101010101010101;
uint64_t InRange(uint64_t x, unsigned lo, unsigned hi) {
  return (x + kOnes * (0x80 - lo)) & ~(x + kOnes * (0x7f - hi)) & (kOnes * 0x80);
}

// 8 lowercase hex digits as a number, or false; 8 bytes at a time, since every call of With
// parses every id (a per-digit loop on a 128-bit value was most of With's own time). The
// digits' values are then packed pairwise into bytes, 16-bit and 32-bit words, first digit high.
bool HexWord(const char* digits, uint32_t* out) {
  const uint64_t x = LoadLittle(digits);
  const uint64_t ok = InRange(x, '0', '9') | InRange(x, 'a', 'f');
  if ((x & (kOnes * 0x80)) != 0 || ok != kOnes * 0x80) return false;
  const uint64_t v = (x & (kOnes * 0x0f)) + ((x >> 6) & kOnes) * 9;  // 'a' is 0x61: 1 + 9
  const uint64_t pairs = ((v << 4) | (v >> 8)) & 0x00ff00ff00ff00ff;
  const uint64_t quads = ((pairs << 8) | (pairs >> 16)) & 0x0000ffff0000ffff;
  *out = static_cast<uint32_t>((quads << 16) | (quads >> 32));
  return true;
}

}  // namespace

std::optional<absl::uint128> SessionKey(absl::string_view id) {
  uint32_t w[4];
  if (id.size() != 32) return std::nullopt;
  for (int i = 0; i < 4; ++i) {
    if (!HexWord(id.data() + 8 * i, &w[i])) return std::nullopt;
  }
  return absl::MakeUint128(uint64_t{w[0]} << 32 | w[1], uint64_t{w[2]} << 32 | w[3]);
}

namespace {

// An id as an error message quotes it: a client's junk id may be megabytes, and the message
// travels in trailers, which clients cap at a few KiB.
std::string QuoteId(absl::string_view id) {
  size_t shown = 40;
  if (id.size() <= shown) return absl::StrCat("'", id, "'");
  while (shown > 0 && (static_cast<unsigned char>(id[shown]) & 0xC0) == 0x80) --shown;  // UTF-8
  return absl::StrCat("'", id.substr(0, shown), "...' (", id.size(), " bytes)");
}

}  // namespace

size_t SessionStore::ShardOf(absl::uint128 key) const {
  return absl::Hash<absl::uint128>{}(key) % shards_.size();
}

uint32_t SessionStore::TenantIndex(absl::string_view tenant, bool create) {
  if (tenant.empty()) return 0;
  MutexLock lock(&tenants_mu_);
  auto it = tenant_index_.find(tenant);
  if (it != tenant_index_.end()) return it->second;
  if (!create) return kNoTenant;
  const uint32_t index = static_cast<uint32_t>(tenant_index_.size()) + 1;
  tenant_index_.emplace(std::string(tenant), index);
  return index;
}

bool SessionStore::Reserve(int64_t n) {
  int64_t cur = live_.load();
  while (cur + n <= options_.max_sessions) {
    if (live_.compare_exchange_weak(cur, cur + n)) return true;
  }
  return false;
}

bool SessionStore::ReserveTenant(uint32_t tenant, int64_t n) {
  if (options_.max_sessions_per_tenant <= 0 || tenant == 0) return true;
  MutexLock lock(&tenants_mu_);
  int64_t& live = tenant_live_[tenant];
  if (live + n > options_.max_sessions_per_tenant) return false;
  live += n;
  return true;
}

void SessionStore::DropTenant(uint32_t tenant, int64_t n) {
  if (options_.max_sessions_per_tenant <= 0 || tenant == 0 || n == 0) return;
  MutexLock lock(&tenants_mu_);
  auto it = tenant_live_.find(tenant);
  if (it == tenant_live_.end()) return;
  it->second -= n;
  if (it->second <= 0) tenant_live_.erase(it);
}

int64_t SessionStore::bytes() const {
  MutexLock lock(&bytes_mu_);
  return bytes_;
}

bool SessionStore::ReserveBytes(absl::Span<const DecodeState> states,
                                absl::Span<const int64_t> bytes) {
  MutexLock lock(&bytes_mu_);
  int64_t needed = 0;
  absl::flat_hash_map<const Engine*, int64_t> new_engines;
  for (size_t i = 0; i < states.size(); ++i) {
    needed += bytes[i];
    const Engine* engine = &states[i].engine();
    if (!engine_sessions_.contains(engine) && new_engines.emplace(engine, 0).second) {
      needed += engine->ApproxBytes();
    }
  }
  if (bytes_ + needed > options_.max_session_bytes) return false;
  bytes_ += needed;
  for (const DecodeState& state : states) ++engine_sessions_[&state.engine()];
  return true;
}

void SessionStore::DropBytes(Session& session) {
  const Engine* engine;
  {
    MutexLock hold(&session.mu);  // free: no With holds a session that is being freed
    engine = &session.state.engine();
  }
  MutexLock lock(&bytes_mu_);
  bytes_ -= session.bytes;
  auto it = engine_sessions_.find(engine);
  int64_t freed = session.bytes;
  if (it != engine_sessions_.end() && --it->second == 0) {
    bytes_ -= engine->ApproxBytes();
    freed += engine->ApproxBytes();  // freed with the session, unless the engine cache keeps it
    engine_sessions_.erase(it);
  }
  NoteFreed(freed);
}

absl::Status SessionStore::CountRefusal(int64_t n) const {
  return FieldStatus(absl::StatusCode::kResourceExhausted, "sessions",
                     absl::StrCat(live_.load(), " live sessions and ", n,
                                  " more exceed the server's --max-sessions of ",
                                  options_.max_sessions, "; release some"));
}

absl::Status SessionStore::BytesRefusal(int64_t n, int64_t bytes) const {
  return FieldStatus(
      absl::StatusCode::kResourceExhausted, "sessions",
      absl::StrCat(n, " more sessions of up to ", bytes, " bytes and the ", this->bytes(),
                   " bytes live exceed the server's --max-session-bytes of ",
                   options_.max_session_bytes, "; release some, or lower max_len"));
}

absl::Status SessionStore::Admits(int64_t n, int64_t bytes) const {
  if (live_.load() + n > options_.max_sessions) return CountRefusal(n);
  if (this->bytes() + bytes > options_.max_session_bytes) return BytesRefusal(n, bytes);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> SessionStore::Insert(std::vector<DecodeState> states,
                                                              absl::string_view tenant) {
  const int64_t n = static_cast<int64_t>(states.size());
  std::vector<int64_t> bytes;
  int64_t total_bytes = 0;
  for (const DecodeState& state : states) {
    bytes.push_back(state.MaxApproxBytes());
    total_bytes += bytes.back();
  }
  if (!Reserve(n)) {
    Sweep();  // expired sessions not yet swept do not count against the cap
    if (!Reserve(n)) return CountRefusal(n);
  }
  const uint32_t owner = TenantIndex(tenant, /*create=*/true);
  if (!ReserveTenant(owner, n)) {
    Sweep();
    if (!ReserveTenant(owner, n)) {
      live_.fetch_sub(n);
      return FieldStatus(absl::StatusCode::kResourceExhausted, "sessions",
                         absl::StrCat(n, " more sessions exceed this tenant's cap, the "
                                      "server's --max-sessions-per-tenant of ",
                                      options_.max_sessions_per_tenant, "; release some"));
    }
  }
  if (!ReserveBytes(states, bytes)) {
    Sweep();
    if (!ReserveBytes(states, bytes)) {
      live_.fetch_sub(n);
      DropTenant(owner, n);
      return BytesRefusal(n, total_bytes);
    }
  }
  std::vector<std::string> ids;
  ids.reserve(states.size());
  const absl::Time now = Now();
  for (size_t i = 0; i < states.size(); ++i) {
    for (;;) {
      std::string id = options_.new_id();
      const absl::uint128 key = *SessionKey(id);
      Shard& shard = *shards_[ShardOf(key)];
      MutexLock lock(&shard.mu);
      // Checked before the state is moved: a colliding id must leave it for the next try.
      if (shard.map.contains(key)) continue;
      shard.map.try_emplace(key, std::move(states[i]), now, owner, bytes[i]);
      ids.push_back(std::move(id));
      break;
    }
  }
  created_.fetch_add(n, std::memory_order_relaxed);
  return ids;
}

namespace {

// A well-formed id of a With call, sorted by shard (the lock order), then key, then index, so
// that the repeats of one id sit together, earliest first.
struct SortedId {
  uint32_t shard;
  uint32_t index;
  absl::uint128 key;
  bool operator<(const SortedId& o) const {
    return shard != o.shard ? shard < o.shard : key != o.key ? key < o.key : index < o.index;
  }
};

// The first id named twice as a scan in order finds it: the least index whose id came earlier
// (`second`), and that id's first index. Ids that are no key are compared by text, in a hash
// map: they are rare, and it bounds the cost of junk ids by their total size.
struct Repeat {
  size_t first = 0;
  size_t second = SIZE_MAX;
};
Repeat FirstRepeat(absl::Span<const std::string* const> ids, absl::Span<const SortedId> sorted,
                   absl::Span<const size_t> malformed) {
  Repeat r;
  for (size_t k = 1; k < sorted.size(); ++k) {
    const bool repeat = sorted[k].key == sorted[k - 1].key;
    const bool group_start = k == 1 || sorted[k - 2].key != sorted[k - 1].key;
    if (repeat && group_start && sorted[k].index < r.second) {
      r = {sorted[k - 1].index, sorted[k].index};
    }
  }
  absl::flat_hash_map<absl::string_view, size_t> seen;
  for (size_t i : malformed) {
    if (i >= r.second) break;
    auto [it, fresh] = seen.emplace(*ids[i], i);
    if (!fresh) return {it->second, i};
  }
  return r;
}

}  // namespace

absl::Status SessionStore::With(
    absl::Span<const std::string> ids, absl::string_view field,
    absl::FunctionRef<absl::Status(absl::Span<DecodeState* const>)> fn,
    absl::string_view tenant) {
  std::vector<const std::string*> ptrs;
  ptrs.reserve(ids.size());
  for (const std::string& id : ids) ptrs.push_back(&id);
  return With(absl::MakeConstSpan(ptrs), field, fn, tenant);
}

absl::Status SessionStore::With(
    absl::Span<const std::string* const> ids, absl::string_view field,
    absl::FunctionRef<absl::Status(absl::Span<DecodeState* const>)> fn,
    absl::string_view tenant) {
  // An id that is not 32 hex digits names no session: no key, found nowhere.
  std::vector<std::optional<SortedId>> named(ids.size());
  std::vector<SortedId> sorted;
  sorted.reserve(ids.size());
  std::vector<size_t> malformed;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (const std::optional<absl::uint128> key = SessionKey(*ids[i])) {
      named[i] = SortedId{static_cast<uint32_t>(ShardOf(*key)), static_cast<uint32_t>(i), *key};
      sorted.push_back(*named[i]);
    } else {
      malformed.push_back(i);
    }
  }
  std::sort(sorted.begin(), sorted.end());
  if (const Repeat r = FirstRepeat(ids, sorted, malformed); r.second != SIZE_MAX) {
    return FieldStatus(absl::StatusCode::kInvalidArgument,
                       absl::StrCat(field, "[", r.second, "]"),
                       absl::StrCat("session ", QuoteId(*ids[r.second]),
                                    " is named twice (also at ", field, "[", r.first, "])"));
  }
  std::vector<size_t> order;  // the shards in use, ascending
  for (const SortedId& id : sorted) {
    if (order.empty() || order.back() != id.shard) order.push_back(id.shard);
  }
  const uint32_t owner = TenantIndex(tenant, /*create=*/false);
  std::vector<Session*> sessions;
  sessions.reserve(ids.size());
  const absl::Time now = Now();
  LockShards(order);
  for (size_t i = 0; i < ids.size(); ++i) {
    Session* session = named[i] ? Find(named[i]->key, named[i]->shard, now) : nullptr;
    // Another tenant's session answers exactly as an unknown one, so existence does not leak.
    if (session == nullptr || session->tenant != owner) {
      UnlockShards(order);
      return FieldStatus(absl::StatusCode::kNotFound, absl::StrCat(field, "[", i, "]"),
                         absl::StrCat("session ", QuoteId(*ids[i]),
                                      " does not exist (unknown, released or expired)"));
    }
    sessions.push_back(session);
  }
  for (Session* session : sessions) {
    ++session->pins;
    session->last_used = now;  // only when every id was found: a refused call changes nothing
  }
  UnlockShards(order);
  std::vector<Session*> lock_order;
  lock_order.reserve(sorted.size());
  for (const SortedId& id : sorted) lock_order.push_back(sessions[id.index]);
  const absl::Status status = RunLocked(sessions, lock_order, fn);
  LockShards(order);
  for (const SortedId& id : sorted) {
    Session* session = sessions[id.index];
    if (--session->pins == 0 && session->dropped) {
      Shard& shard = *shards_[id.shard];
      shard.mu.AssertHeld();
      auto it = shard.map.find(id.key);
      DropBytes(it->second);
      shard.map.erase(it);
    }
  }
  UnlockShards(order);
  return status;
}

absl::Status SessionStore::RunLocked(
    absl::Span<Session* const> sessions, absl::Span<Session* const> lock_order,
    absl::FunctionRef<absl::Status(absl::Span<DecodeState* const>)> fn) {
  std::vector<DecodeState*> states;
  states.reserve(sessions.size());
  for (Session* session : sessions) states.push_back(&session->state);
  for (Session* session : lock_order) session->mu.Lock();
  absl::Status status = fn(absl::MakeConstSpan(states));
  for (auto it = lock_order.rbegin(); it != lock_order.rend(); ++it) (*it)->mu.Unlock();
  return status;
}

void SessionStore::Remove(Shard& shard,
                          absl::node_hash_map<absl::uint128, Session>::iterator it) {
  shard.mu.AssertHeld();
  Session& session = it->second;
  DropTenant(session.tenant, 1);
  live_.fetch_sub(1);
  if (session.pins > 0) {
    session.dropped = true;
    return;
  }
  DropBytes(session);
  shard.map.erase(it);
}

SessionStore::Session* SessionStore::Find(absl::uint128 key, size_t shard_index, absl::Time now) {
  Shard& shard = *shards_[shard_index];
  shard.mu.AssertHeld();
  auto it = shard.map.find(key);
  if (it == shard.map.end() || it->second.dropped) return nullptr;
  if (now - it->second.last_used > options_.ttl) {  // expired: evicted on access
    Remove(shard, it);
    evicted_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return &it->second;
}

void SessionStore::LockShards(absl::Span<const size_t> order) {
  for (size_t s : order) shards_[s]->mu.Lock();
}

void SessionStore::UnlockShards(absl::Span<const size_t> order) {
  for (auto it = order.rbegin(); it != order.rend(); ++it) shards_[*it]->mu.Unlock();
}

absl::StatusOr<std::vector<DecodeState>> SessionStore::Get(absl::Span<const std::string> ids,
                                                           absl::string_view field,
                                                           absl::string_view tenant) {
  std::vector<DecodeState> out;
  absl::Status s = With(ids, field, [&](absl::Span<DecodeState* const> states) {
    out.reserve(states.size());
    for (DecodeState* st : states) out.push_back(*st);
    return absl::OkStatus();
  }, tenant);
  if (!s.ok()) return s;
  return out;
}

int SessionStore::Release(absl::Span<const std::string> ids, absl::string_view tenant) {
  const int released = Drop(ids, tenant);
  released_.fetch_add(released, std::memory_order_relaxed);
  return released;
}

int SessionStore::Discard(absl::Span<const std::string> ids, absl::string_view tenant) {
  const int discarded = Drop(ids, tenant);
  discarded_.fetch_add(discarded, std::memory_order_relaxed);
  return discarded;
}

int SessionStore::Drop(absl::Span<const std::string> ids, absl::string_view tenant) {
  int released = 0;
  const uint32_t owner = TenantIndex(tenant, /*create=*/false);
  for (const std::string& id : ids) {
    const std::optional<absl::uint128> key = SessionKey(id);
    if (!key) continue;
    Shard& shard = *shards_[ShardOf(*key)];
    MutexLock lock(&shard.mu);
    auto it = shard.map.find(*key);
    if (it != shard.map.end() && !it->second.dropped && it->second.tenant == owner) {
      Remove(shard, it);
      ++released;
    }
  }
  return released;
}

int SessionStore::Sweep() {
  int dropped = 0;
  const absl::Time now = Now();
  for (auto& shard : shards_) {
    MutexLock lock(&shard->mu);
    for (auto it = shard->map.begin(); it != shard->map.end();) {
      const auto next = std::next(it);  // Remove may erase `it`
      if (!it->second.dropped && now - it->second.last_used > options_.ttl) {
        Remove(*shard, it);
        ++dropped;
      }
      it = next;
    }
    // A hash map keeps its peak capacity after erases: give back what a burst left.
    if (shard->map.capacity() > 1024 && shard->map.size() * 4 < shard->map.capacity()) {
      shard->map.rehash(0);
    }
  }
  evicted_.fetch_add(dropped, std::memory_order_relaxed);
  return dropped;
}

namespace {

void AppendKey(std::string* key, const DecodeConfig::IntList& v) {
  absl::StrAppend(key, absl::StrJoin(v, ","), "|");
}
void AppendKey(std::string* key, const DecodeConfig::Range& v) {
  absl::StrAppend(key, v.first, ",", v.second, "|");
}
void AppendKey(std::string* key, int64_t v) { absl::StrAppend(key, v, "|"); }

// Every field, so configs that differ anywhere get their own engine.
std::string EngineKey(const DecodeConfig& c) {
  std::string key;
#define ASTCD_APPEND_KEY(type, name, default_value, check) AppendKey(&key, c.name);
  ASTCD_DECODE_CONFIG(ASTCD_APPEND_KEY)
#undef ASTCD_APPEND_KEY
  return key;
}

}  // namespace

EngineCache::EngineCache(size_t capacity, Builder build)
    : capacity_(std::max<size_t>(capacity, 1)),
      build_(build ? std::move(build) : Builder([](const DecodeConfig& c) {
        return Engine::Create(c);
      })) {}

size_t EngineCache::size() const {
  MutexLock lock(&mu_);
  return lru_.size();
}

int64_t EngineCache::builds() const {
  MutexLock lock(&mu_);
  return builds_;
}

absl::StatusOr<std::shared_ptr<const Engine>> EngineCache::Get(const DecodeConfig& c) {
  const std::string key = EngineKey(c);
  {
    MutexLock lock(&mu_);
    for (;;) {
      auto it = entries_.find(key);
      if (it == entries_.end()) {
        entries_.emplace(key, Entry{});  // ours to build; others wait for it
        break;
      }
      if (it->second.engine != nullptr) {
        lru_.splice(lru_.begin(), lru_, it->second.lru);
        return it->second.engine;
      }
      built_.Wait(&mu_);  // being built by another request
    }
  }
  // Built without the lock: other configs' requests go on meanwhile.
  absl::StatusOr<std::shared_ptr<const Engine>> engine = build_(c);
  MutexLock lock(&mu_);
  auto it = entries_.find(key);  // still there: only its builder removes an entry being built
  if (!engine.ok()) {
    entries_.erase(it);  // not cached: a waiter tries again and gets the same error
    built_.NotifyAll();
    return engine.status();
  }
  ++builds_;
  it->second.engine = *engine;
  lru_.push_front(key);
  it->second.lru = lru_.begin();
  while (lru_.size() > capacity_) {  // never the one just built: capacity_ >= 1
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  built_.NotifyAll();
  return *std::move(engine);
}

}  // namespace astcd::server
