// Tests for transport/webrtc/ice_servers.hpp: the --stun and --turn values.
#include "transport/webrtc/ice_servers.hpp"

#include <doctest/doctest.h>

using rtx::transport::webrtc::parse_stun_server;
using rtx::transport::webrtc::parse_turn_server;
using rtx::transport::webrtc::resolve_ice_host;

TEST_CASE("ice servers: --stun HOST:PORT, [IPv6]:PORT, the default port and stun:") {
    auto plain = parse_stun_server("127.0.0.1:3479");
    REQUIRE(plain);
    CHECK(plain->host == "127.0.0.1");
    CHECK(plain->port == 3479);
    auto name = parse_stun_server("stun:stun.example.net");
    REQUIRE(name);
    CHECK(name->host == "stun.example.net");
    CHECK(name->port == 3478);
    auto v6 = parse_stun_server("[::1]:19302");
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK(v6->port == 19302);
    auto v6_default = parse_stun_server("[fd00::2]");
    REQUIRE(v6_default);
    CHECK(v6_default->port == 3478);
}

TEST_CASE("ice servers: malformed --stun values are refused with the expected form") {
    for (const char* text : {"", ":3478", "host:", "host:0", "host:65536", "host:12x", "::1:3478",
                             "[::1", "[::1]x", "[::1]:", "a b:1", "stun:"}) {
        auto result = parse_stun_server(text);
        CHECK_FALSE_MESSAGE(result, text);
        if (!result) {
            CHECK(result.error().message ==
                  std::string("--stun ") + text + ": expected HOST:PORT or [IPv6]:PORT");
        }
    }
}

TEST_CASE("ice servers: --turn turn:USER:PASS@HOST:PORT") {
    auto turn = parse_turn_server("turn:alice:s3cr:et@x@127.0.0.1:3480");
    REQUIRE(turn);
    CHECK(turn->username == "alice");
    CHECK(turn->password == "s3cr:et@x"); // the password ends at the last '@'
    CHECK(turn->host == "127.0.0.1");
    CHECK(turn->port == 3480);
    auto bare = parse_turn_server("bob:pw@turn.example.net");
    REQUIRE(bare);
    CHECK(bare->username == "bob");
    CHECK(bare->port == 3478);
    auto empty_password = parse_turn_server("turn:carol:@[::1]:3478");
    REQUIRE(empty_password);
    CHECK(empty_password->password.empty());
    CHECK(empty_password->host == "::1");
}

TEST_CASE("ice servers: malformed --turn values are refused with the expected form") {
    for (const char* text : {"", "turn:127.0.0.1:3478", "turn:alice@127.0.0.1", "turn::pw@h",
                             "turn:alice:pw@", "turn:alice:pw@h:0", "turn:alice:pw@h:x"}) {
        auto result = parse_turn_server(text);
        CHECK_FALSE_MESSAGE(result, text);
        if (!result) {
            CHECK(result.error().message ==
                  std::string("--turn ") + text + ": expected turn:USER:PASS@HOST:PORT");
        }
    }
}

TEST_CASE("ice servers: IP literals are kept, names resolved (from /etc/hosts)") {
    auto literal = resolve_ice_host("::1");
    REQUIRE(literal);
    CHECK(*literal == "::1");
    auto localhost = resolve_ice_host("localhost");
    REQUIRE(localhost);
    CHECK((*localhost == "127.0.0.1" || *localhost == "::1"));
}
