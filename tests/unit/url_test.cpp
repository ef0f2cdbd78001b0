// Tests for core/url.hpp: the endpoint URLs every subcommand takes.
#include "core/url.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using rtx::core::default_port;
using rtx::core::ExitCode;
using rtx::core::parse_url;
using rtx::core::Url;

namespace {

Url parse_ok(std::string_view text, std::string_view default_scheme = "tcp") {
    auto result = parse_url(text, default_scheme);
    INFO("input: ", std::string(text));
    REQUIRE_MESSAGE(result.ok(), "unexpected error: ", result.ok() ? "" : result.error().message);
    return result.value();
}

// Every URL error is a usage error (exit status 2) that quotes the input.
rtx::core::Error parse_error(std::string_view text, std::string_view default_scheme = "tcp") {
    auto result = parse_url(text, default_scheme);
    INFO("input: ", std::string(text));
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ExitCode::usage);
    CHECK_FALSE(result.error().message.empty());
    return result.error();
}

} // namespace

TEST_CASE("parse_url: netcat form HOST:PORT takes the default scheme") {
    SUBCASE("hostname") {
        Url url = parse_ok("example.com:7000");
        CHECK(url.scheme == "tcp");
        CHECK(url.host == "example.com");
        CHECK(url.port == 7000);
        CHECK(url.path == "/");
        CHECK(url.query.empty());
        CHECK(url.user.empty());
        CHECK(url.password.empty());
        CHECK_FALSE(url.ipv6_literal());
    }
    SUBCASE("IPv4 address") {
        Url url = parse_ok("127.0.0.1:1");
        CHECK(url.host == "127.0.0.1");
        CHECK(url.port == 1);
    }
    SUBCASE("highest port") {
        CHECK(parse_ok("localhost:65535").port == 65535);
    }
    SUBCASE("default scheme is whatever the caller passes") {
        Url url = parse_ok("localhost:8080", "ws");
        CHECK(url.scheme == "ws");
        CHECK(url.port == 8080);
    }
}

TEST_CASE("parse_url: explicit schemes") {
    SUBCASE("tcp://") {
        Url url = parse_ok("tcp://example.com:7000", "tls");
        CHECK(url.scheme == "tcp");
        CHECK(url.host == "example.com");
        CHECK(url.port == 7000);
    }
    SUBCASE("tls://") {
        Url url = parse_ok("tls://example.com:7001");
        CHECK(url.scheme == "tls");
        CHECK(url.port == 7001);
    }
    SUBCASE("upper-case scheme is lower-cased") {
        Url url = parse_ok("TLS://example.com:7001");
        CHECK(url.scheme == "tls");
        CHECK(parse_ok("Ws://example.com").scheme == "ws");
    }
    SUBCASE("scheme with digits, plus, minus and dot") {
        CHECK(parse_ok("a1+b-c.d://h:1").scheme == "a1+b-c.d");
    }
    SUBCASE("bad scheme is an error") {
        parse_error("1tcp://h:1");
        parse_error("://h:1");
        parse_error("t_p://h:1");
    }
}

TEST_CASE("default_port: well-known ports per scheme") {
    CHECK(default_port("http") == 80);
    CHECK(default_port("ws") == 80);
    CHECK(default_port("https") == 443);
    CHECK(default_port("wss") == 443);
    CHECK(default_port("mqtt") == 1883);
    CHECK(default_port("mqtts") == 8883);
    CHECK(default_port("tcp") == 0);
    CHECK(default_port("tls") == 0);
    CHECK(default_port("") == 0);
}

TEST_CASE("parse_url: a missing port takes the scheme's default") {
    SUBCASE("http") {
        CHECK(parse_ok("http://example.com").port == 80);
    }
    SUBCASE("https") {
        CHECK(parse_ok("https://example.com/x").port == 443);
    }
    SUBCASE("ws") {
        CHECK(parse_ok("ws://example.com").port == 80);
    }
    SUBCASE("wss") {
        CHECK(parse_ok("wss://example.com").port == 443);
    }
    SUBCASE("mqtt") {
        CHECK(parse_ok("mqtt://broker").port == 1883);
    }
    SUBCASE("mqtts") {
        CHECK(parse_ok("mqtts://broker").port == 8883);
    }
    SUBCASE("default scheme without scheme in the text") {
        CHECK(parse_ok("example.com", "wss").port == 443);
    }
    SUBCASE("an explicit port wins over the default") {
        CHECK(parse_ok("http://example.com:8080").port == 8080);
    }
}

TEST_CASE("parse_url: a port is required when the scheme has no default") {
    SUBCASE("tcp://") {
        auto error = parse_error("tcp://example.com");
        CHECK(error.message.find("port") != std::string::npos);
    }
    SUBCASE("tls://") {
        parse_error("tls://example.com");
    }
    SUBCASE("netcat form without port") {
        parse_error("example.com");
    }
    SUBCASE("bracketed IPv6 without port") {
        parse_error("[::1]");
    }
}

TEST_CASE("parse_url: bad ports are usage errors") {
    SUBCASE("port 0") {
        parse_error("localhost:0");
    }
    SUBCASE("port 65536") {
        parse_error("localhost:65536");
    }
    SUBCASE("port far too large") {
        parse_error("localhost:99999999999999999999");
    }
    SUBCASE("non-numeric port") {
        parse_error("localhost:http");
    }
    SUBCASE("digits then letters") {
        parse_error("localhost:80x");
    }
    SUBCASE("negative port") {
        parse_error("localhost:-1");
    }
    SUBCASE("plus sign") {
        parse_error("localhost:+80");
    }
    SUBCASE("space in port") {
        parse_error("localhost: 80");
    }
    SUBCASE("empty port") {
        parse_error("localhost:");
    }
    SUBCASE("empty port after IPv6") {
        parse_error("[::1]:");
    }
    SUBCASE("the message names the bad port") {
        auto error = parse_error("localhost:65536");
        CHECK(error.message.find("65536") != std::string::npos);
    }
}

TEST_CASE("parse_url: IPv6 literals") {
    SUBCASE("[::1]:7000") {
        Url url = parse_ok("[::1]:7000");
        CHECK(url.host == "::1");
        CHECK(url.port == 7000);
        CHECK(url.ipv6_literal());
        CHECK(url.authority() == "[::1]:7000");
    }
    SUBCASE("with scheme, path and default port") {
        Url url = parse_ok("ws://[2001:db8::1]/chat");
        CHECK(url.host == "2001:db8::1");
        CHECK(url.port == 80);
        CHECK(url.path == "/chat");
        CHECK(url.to_string() == "ws://[2001:db8::1]:80/chat");
    }
    SUBCASE("unbracketed IPv6 is an error that shows the bracket form") {
        auto error = parse_error("::1:7000");
        CHECK(error.message.find("[::1]:7000") != std::string::npos);
        parse_error("tcp://2001:db8::1:7000");
        parse_error("fe80::1");
    }
    SUBCASE("missing closing bracket") {
        parse_error("[::1:7000");
    }
    SUBCASE("empty brackets") {
        parse_error("[]:7000");
    }
    SUBCASE("IPv4 in brackets") {
        parse_error("[127.0.0.1]:7000");
    }
    SUBCASE("text after the bracket") {
        parse_error("[::1]x7000");
    }
}

TEST_CASE("parse_url: user info") {
    SUBCASE("user and password") {
        Url url = parse_ok("mqtt://alice:secret@broker:1884");
        CHECK(url.user == "alice");
        CHECK(url.password == "secret");
        CHECK(url.host == "broker");
        CHECK(url.port == 1884);
    }
    SUBCASE("user only") {
        Url url = parse_ok("mqtt://alice@broker");
        CHECK(url.user == "alice");
        CHECK(url.password.empty());
        CHECK(url.port == 1883);
    }
    SUBCASE("percent-decoding") {
        Url url = parse_ok("mqtt://al%69ce%40home:p%3As%2fw%25rd@broker");
        CHECK(url.user == "alice@home");
        CHECK(url.password == "p:s/w%rd");
    }
    SUBCASE("a '%' without two hex digits is kept") {
        Url url = parse_ok("mqtt://a%zz:b%4@broker");
        CHECK(url.user == "a%zz");
        CHECK(url.password == "b%4");
    }
    SUBCASE("the last '@' ends the user info") {
        Url url = parse_ok("mqtt://a@b:c@broker");
        CHECK(url.user == "a@b");
        CHECK(url.password == "c");
        CHECK(url.host == "broker");
    }
    SUBCASE("user info with IPv6 host") {
        Url url = parse_ok("tcp://bob:pw@[::1]:9");
        CHECK(url.user == "bob");
        CHECK(url.host == "::1");
        CHECK(url.port == 9);
    }
    SUBCASE("to_string leaves the user info out") {
        Url url = parse_ok("mqtt://alice:secret@broker");
        CHECK(url.to_string() == "mqtt://broker:1883/");
    }
}

TEST_CASE("parse_url: path, query and fragment") {
    SUBCASE("no path is '/'") {
        Url url = parse_ok("ws://example.com");
        CHECK(url.path == "/");
        CHECK(url.target() == "/");
    }
    SUBCASE("path") {
        Url url = parse_ok("ws://example.com/a/b");
        CHECK(url.path == "/a/b");
        CHECK(url.query.empty());
        CHECK(url.target() == "/a/b");
    }
    SUBCASE("path and query") {
        Url url = parse_ok("http://example.com:8080/events?topic=a&x=1");
        CHECK(url.path == "/events");
        CHECK(url.query == "topic=a&x=1");
        CHECK(url.target() == "/events?topic=a&x=1");
    }
    SUBCASE("query without path") {
        Url url = parse_ok("ws://example.com?x=1");
        CHECK(url.path == "/");
        CHECK(url.query == "x=1");
        CHECK(url.target() == "/?x=1");
    }
    SUBCASE("fragment is dropped") {
        Url url = parse_ok("ws://example.com/p?q=1#frag");
        CHECK(url.path == "/p");
        CHECK(url.query == "q=1");
        CHECK(url.to_string() == "ws://example.com:80/p?q=1");
    }
    SUBCASE("fragment right after the host") {
        Url url = parse_ok("ws://example.com#frag");
        CHECK(url.path == "/");
        CHECK(url.query.empty());
    }
    SUBCASE("'?' inside the fragment is not a query") {
        Url url = parse_ok("ws://example.com/p#f?x");
        CHECK(url.path == "/p");
        CHECK(url.query.empty());
    }
    SUBCASE("'@' in the path is not user info") {
        Url url = parse_ok("ws://example.com/a@b");
        CHECK(url.user.empty());
        CHECK(url.host == "example.com");
        CHECK(url.path == "/a@b");
    }
    SUBCASE("path is not percent-decoded") {
        CHECK(parse_ok("ws://example.com/a%20b").path == "/a%20b");
    }
}

TEST_CASE("Url: authority, target and to_string") {
    Url url = parse_ok("HTTPS://user:pw@Example.com:8443/v1/stream?since=5#top");
    CHECK(url.authority() == "Example.com:8443");
    CHECK(url.target() == "/v1/stream?since=5");
    CHECK(url.to_string() == "https://Example.com:8443/v1/stream?since=5");
    CHECK(parse_ok("localhost:7000").to_string() == "tcp://localhost:7000/");
}

TEST_CASE("parse_url: malformed input") {
    SUBCASE("empty") {
        parse_error("");
    }
    SUBCASE("scheme only") {
        parse_error("tcp://");
    }
    SUBCASE("missing host") {
        parse_error("tcp://:7000");
    }
    SUBCASE("missing host before path") {
        parse_error("ws:///path");
    }
    SUBCASE("user info but no host") {
        parse_error("tcp://user@:7000");
    }
    SUBCASE("space in host") {
        parse_error("tcp://exa mple.com:7000");
    }
    SUBCASE("control character in host") {
        parse_error(std::string_view("tcp://a\tb:7000"));
    }
    SUBCASE("NUL in host") {
        parse_error(std::string_view("tcp://a\0b:7000", 15));
    }
    SUBCASE("the message quotes the input") {
        auto error = parse_error("tcp://:7000");
        CHECK(error.message.find("tcp://:7000") != std::string::npos);
    }
}

TEST_CASE("parse_url: '://' after the authority is not a scheme") {
    SUBCASE("in the query of a HOST:PORT URL") {
        auto url = parse_url("localhost:8080/chat?next=http://x", "ws");
        REQUIRE(url.ok());
        CHECK(url->scheme == "ws");
        CHECK(url->host == "localhost");
        CHECK(url->port == 8080);
        CHECK(url->path == "/chat");
        CHECK(url->query == "next=http://x");
    }
    SUBCASE("in the query of a URL with a scheme") {
        auto url = parse_url("http://example.com/?a=b://c", "tcp");
        REQUIRE(url.ok());
        CHECK(url->host == "example.com");
        CHECK(url->query == "a=b://c");
    }
}

TEST_CASE("parse_url: errors never show the password") {
    auto url = parse_url("mqtt://alice:secret@broker:0", "tcp");
    REQUIRE_FALSE(url.ok());
    CHECK(url.error().message.find("secret") == std::string::npos);
    CHECK(url.error().message.find("alice:***@broker:0") != std::string::npos);
}
