#include "server/auth.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/errors.h"

namespace astcd::server {
namespace {

bool ValidTenant(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

// Compares in time that depends only on the lengths, so a wrong guess learns nothing from
// how long the answer took.
bool ConstantTimeEqual(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::Parse(absl::string_view text) {
  TokenAuthenticator auth;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("auth tokens line ", line_no, ": want `TOKEN TENANT`"));
    }
    if (parts[0].size() < 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("auth tokens line ", line_no, ": a token needs at least 16 characters"));
    }
    if (!ValidTenant(parts[1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "auth tokens line ", line_no, ": a tenant name is 1 to 64 of [A-Za-z0-9_.-]"));
    }
    for (const auto& [token, tenant] : auth.tokens_) {
      if (token == parts[0]) {
        return absl::InvalidArgumentError(
            absl::StrCat("auth tokens line ", line_no, ": this token is already listed"));
      }
    }
    auth.tokens_.emplace_back(std::string(parts[0]), std::string(parts[1]));
  }
  if (auth.tokens_.empty()) return absl::InvalidArgumentError("auth tokens: the file lists none");
  return auth;
}

absl::StatusOr<TokenAuthenticator> TokenAuthenticator::FromFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read --auth-tokens file ", path));
  std::ostringstream text;
  text << file.rdbuf();
  return Parse(text.str());
}

namespace {

// The `authorization` header is metadata, not a request field; its errors name it all the same
// (docs/api.md, "Errors").
absl::Status MetadataError(absl::string_view description) {
  return FieldStatus(absl::StatusCode::kUnauthenticated, "authorization", description);
}

}  // namespace

absl::StatusOr<std::string> TokenAuthenticator::TenantOfHeader(
    absl::string_view authorization) const {
  absl::string_view token = authorization;
  if (!absl::ConsumePrefix(&token, "Bearer ") && !absl::ConsumePrefix(&token, "bearer ")) {
    return MetadataError("want `Bearer <token>`");
  }
  token = absl::StripAsciiWhitespace(token);
  const std::string* found = nullptr;
  for (const auto& [known, tenant] : tokens_) {  // all of them, whatever matches
    if (ConstantTimeEqual(known, token)) found = &tenant;
  }
  if (found == nullptr) return MetadataError("unknown token");
  return *found;
}

absl::StatusOr<std::string> TokenAuthenticator::Authenticate(
    const grpc::ServerContextBase& ctx) const {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return MetadataError("missing; send `Bearer <token>`");
  }
  return TenantOfHeader(absl::string_view(it->second.data(), it->second.size()));
}

}  // namespace astcd::server
