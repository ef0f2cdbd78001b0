#include "core/version.hpp"

// The only place outside their adapters that names these libraries: asking each for its
// version proves at build time that every dependency of the design card links.
#include <curl/curl.h>
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
    const curl_version_info_data* curl = curl_version_info(CURLVERSION_NOW);
    return fmt::format("libuv {}\nlibcurl {}\nlibwebsockets {}\n{}\n{}\nfmt {}.{}.{}",
                       uv_version_string(), curl->version, lws_get_library_version(),
                       mqtt::VERSION_STR, OpenSSL_version(OPENSSL_VERSION), FMT_VERSION / 10000,
                       FMT_VERSION / 100 % 100, FMT_VERSION % 100);
}

} // namespace rtx::core
