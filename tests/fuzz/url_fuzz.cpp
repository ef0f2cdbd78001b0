// libFuzzer target for core/url.hpp: parse_url never crashes, fails only with a usage error,
// and a parsed URL written back out with to_string() parses to the same endpoint.
#include "core/url.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

using rtx::core::ExitCode;
using rtx::core::parse_url;
using rtx::core::Url;

using rtx::fuzz::check;

bool same_endpoint(const Url& a, const Url& b) {
    return a.scheme == b.scheme && a.host == b.host && a.port == b.port && a.path == b.path &&
           a.query == b.query;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    for (std::string_view default_scheme : {"tcp", "ws"}) {
        auto result = parse_url(text, default_scheme);
        if (!result.ok()) {
            check(result.error().code == ExitCode::usage);
            check(!result.error().message.empty());
            continue;
        }
        const Url& url = result.value();
        check(!url.scheme.empty());
        check(!url.host.empty());
        check(url.port != 0);
        check(!url.path.empty() && url.path.front() == '/');
        check(url.path.find_first_of("?#") == std::string_view::npos);
        check(url.query.find('#') == std::string_view::npos);

        auto again = parse_url(url.to_string(), "unused");
        check(again.ok());
        check(same_endpoint(again.value(), url));

        auto authority = parse_url(url.authority(), url.scheme);
        check(authority.ok());
        check(authority->host == url.host && authority->port == url.port);
    }
    return 0;
}
