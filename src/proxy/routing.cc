#include "proxy/routing.h"

#include "config/config.h"
#include "sigv4/authorization.h"

namespace kp::proxy {

Result<std::string> region_for_request(const std::optional<std::string>& default_region,
                                       const HttpRequest& req) {
  std::string region;
  if (auto auth = req.headers.get("Authorization")) {
    auto info = sigv4::parse_authorization_view(*auth);
    if (!info) {
      return info.error();
    }
    if (info->service != "kms") {
      return fail(Errc::kIncompleteSignature,
                  "proxy: request is signed for service '" + std::string(info->service.substr(0, 64)) +
                      "', not 'kms': this endpoint only proxies AWS KMS");
    }
    region.assign(info->region);
  } else if (default_region) {
    region = *default_region;
  } else {
    return fail(Errc::kIncompleteSignature,
                "proxy: no region: the request has no SigV4 Authorization header and the proxy "
                "has no default region (--region, AWS_REGION)");
  }
  // The region becomes part of a host name: never let it carry anything else.
  if (!config::is_valid_region(region)) {
    return fail(Errc::kValidation, "proxy: invalid region name in the request's credential scope");
  }
  return region;
}

}  // namespace kp::proxy
