// serve/ws/ws_rules: the RFC 6455 checks rtx serve makes itself, and the origin check.
#include "serve/ws/ws_rules.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace ws = rtx::serve::ws;

namespace {

std::string close_payload(unsigned code, std::string reason = "") {
    std::string out;
    out.push_back(static_cast<char>(code >> 8));
    out.push_back(static_cast<char>(code & 0xff));
    return out + reason;
}

} // namespace

TEST_CASE("close codes a peer may send") {
    for (unsigned code : {1000u, 1001u, 1002u, 1003u, 1007u, 1008u, 1009u, 1010u, 1011u, 1012u,
                          1013u, 1014u, 3000u, 3999u, 4000u, 4999u}) {
        CHECK(ws::valid_close_code(code));
    }
    for (unsigned code :
         {0u, 999u, 1004u, 1005u, 1006u, 1015u, 1016u, 1100u, 2000u, 2999u, 5000u, 65535u}) {
        CHECK_FALSE(ws::valid_close_code(code));
    }
}

TEST_CASE("close payloads") {
    CHECK_FALSE(ws::close_payload_error(""));
    CHECK_FALSE(ws::close_payload_error(close_payload(1000)));
    CHECK_FALSE(ws::close_payload_error(close_payload(4001, "h\xc3\xa9 bye")));
    CHECK(ws::close_payload_error("\x03") == 1002);
    CHECK(ws::close_payload_error(close_payload(1005)) == 1002);
    CHECK(ws::close_payload_error(close_payload(999, "x")) == 1002);
    CHECK(ws::close_payload_error(close_payload(1000, "\xff")) == 1007);
    CHECK(ws::close_payload_error(close_payload(1000, "\xc3")) == 1007); // cut character
}

TEST_CASE("origin check") {
    const std::vector<std::string> none;
    CHECK(ws::origin_allowed(none, ""));
    CHECK(ws::origin_allowed(none, "http://anything.example"));
    const std::vector<std::string> two = {"http://good.example", "https://also.example:8443"};
    CHECK(ws::origin_allowed(two, "http://good.example"));
    CHECK(ws::origin_allowed(two, "HTTP://Good.Example"));
    CHECK(ws::origin_allowed(two, "https://also.example:8443"));
    CHECK_FALSE(ws::origin_allowed(two, ""));
    CHECK_FALSE(ws::origin_allowed(two, "null"));
    CHECK_FALSE(ws::origin_allowed(two, "http://good.example:80"));
    CHECK_FALSE(ws::origin_allowed(two, "http://good.example.evil"));
    CHECK_FALSE(ws::origin_allowed(two, "https://good.example"));
}
