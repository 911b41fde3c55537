// Optional bearer-token authentication: `--auth-tokens FILE` maps tokens to tenant names, and
// every Decoder call must carry `authorization: Bearer <token>`. Sessions belong to the tenant
// that made them (server/session_store.h keeps the owner).
#ifndef ASTCD_SERVER_AUTH_H_
#define ASTCD_SERVER_AUTH_H_

#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace astcd::server {

class TokenAuthenticator {
 public:
  // The file: one `TOKEN TENANT` pair per line, separated by whitespace; blank lines and lines
  // starting with # are skipped. Tokens must be distinct and at least 16 characters; a tenant
  // name is [A-Za-z0-9_.-]{1,64}. Errors name the line (and never echo a token).
  static absl::StatusOr<TokenAuthenticator> Parse(absl::string_view text);
  static absl::StatusOr<TokenAuthenticator> FromFile(const std::string& path);

  // The tenant of a call: Unauthenticated when the header is missing, malformed or unknown.
  absl::StatusOr<std::string> Authenticate(const grpc::ServerContextBase& ctx) const;
  absl::StatusOr<std::string> TenantOfHeader(absl::string_view authorization) const;

  size_t size() const { return tokens_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> tokens_;  // (token, tenant)
};

}  // namespace astcd::server

#endif  // ASTCD_SERVER_AUTH_H_
