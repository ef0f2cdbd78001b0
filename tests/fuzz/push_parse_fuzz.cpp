// libFuzzer target for the Web Push parsers that read untrusted text: subscriptions
// (proto/ece.hpp), vapid Authorization headers, JWTs and VAPID keys (proto/vapid.hpp). Each
// either succeeds with a well-formed value or fails with its documented exit code and a
// one-line reason; a parsed subscription written back out parses to the same one.
#include "fuzz_check.hpp"
#include "proto/ece.hpp"
#include "proto/vapid.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace std::string_view_literals;

namespace {

using rtx::core::ExitCode;
using rtx::fuzz::check;
namespace ece = rtx::proto::ece;
namespace p256 = rtx::proto::p256;
namespace vapid = rtx::proto::vapid;

void one_line(const rtx::core::Error& error, ExitCode expected) {
    check(error.code == expected);
    check(!error.message.empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);

    auto subscription = ece::parse_subscription(text);
    if (subscription) {
        check(p256::is_valid_public_key(subscription->p256dh));
        check(subscription->auth.size() == ece::auth_secret_size);
        auto again = ece::parse_subscription(ece::subscription_json(*subscription));
        check(again.ok());
        check(again->endpoint == subscription->endpoint && again->p256dh == subscription->p256dh &&
              again->auth == subscription->auth);
    } else {
        one_line(subscription.error(), ExitCode::usage);
    }

    auto credentials = vapid::parse_authorization(text);
    if (credentials) {
        check(p256::is_valid_public_key(credentials->public_key));
        check(!credentials->token.empty());
        auto claims = vapid::verify_token(credentials->token, credentials->public_key,
                                          "https://push.example.net", 1453523700);
        if (!claims) {
            one_line(claims.error(), ExitCode::refused);
        }
    } else {
        one_line(credentials.error(), ExitCode::refused);
    }

    // The RFC 8292 section 2.4 key: a token from the corpus may verify.
    static const std::string rfc_key = [] {
        std::string key("\x04\x0d\x47\xc7\x3c\xa2\xd5\x15\x0c\xd5\xbe\x70\x8f\x1b\x27\xee\x71"
                        "\xb1\x02\xcc\xf0\xda\xee\xb5\x9b\x5e\xb8\x8b\x73\x2b\x00\x8c\x47\x17"
                        "\xa6\x0a\xe6\x1e\x12\x0d\x88\x9c\xf9\xd4\x6e\x53\xf4\x42\x3c\x27\xc0"
                        "\xe5\xaa\xbd\xa2\x34\xb0\x93\x96\x36\x12\x60\xa5\x04\xfb"sv);
        return key;
    }();
    auto claims = vapid::verify_token(text, rfc_key, "https://push.example.net", 1453523700);
    if (claims) {
        check(claims->audience == "https://push.example.net");
        check(claims->expires > 1453523700);
    } else {
        one_line(claims.error(), ExitCode::refused);
    }

    auto key = vapid::parse_private_key(text);
    if (key) {
        check(key->private_key.size() == p256::private_key_size);
        check(p256::is_valid_public_key(key->public_key));
    } else {
        one_line(key.error(), ExitCode::usage);
    }
    return 0;
}
