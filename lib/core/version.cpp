#include "core/version.hpp"

// The only place outside their adapters that names these libraries: asking each for its
// version proves at build time that every dependency of the design card links (libcurl's is
// asked in the HTTP module, which links it: transport::http::curl_version_text()).
#include <fmt/format.h>
#include <libwebsockets.h>
#include <mqtt/async_client.h>
#include <openssl/crypto.h>
#include <uv.h>

#ifndef RTX_VERSION
#define RTX_VERSION "0.0.0"
#endif

namespace rtx::core {

std::string rtx_version() {
    return RTX_VERSION;
}

std::string library_versions() {
    return fmt::format("libuv {}\nlibwebsockets {}\n{}\n{}\nfmt {}.{}.{}", uv_version_string(),
                       lws_get_library_version(), mqtt::VERSION_STR,
                       OpenSSL_version(OPENSSL_VERSION), FMT_VERSION / 10000,
                       FMT_VERSION / 100 % 100, FMT_VERSION % 100);
}

} // namespace rtx::core
