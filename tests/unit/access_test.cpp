// serve/access: --auth credentials and the CORS answer of rtx serve's HTTP and WebSocket
// endpoints.
#include "serve/access.hpp"

#include <doctest/doctest.h>

#include <string>

namespace serve = rtx::serve;

namespace {

serve::AccessOptions with(std::initializer_list<const char*> specs) {
    serve::AccessOptions access;
    for (const char* spec : specs) {
        access.credentials.push_back(serve::parse_credential(spec).value());
    }
    return access;
}

} // namespace

TEST_CASE("--auth specs") {
    auto bearer = serve::parse_credential("bearer:s3cret");
    REQUIRE(bearer);
    CHECK(bearer->kind == serve::Credential::Kind::bearer);
    CHECK(bearer->token == "s3cret");
    auto basic = serve::parse_credential("basic:alice:pa:ss");
    REQUIRE(basic);
    CHECK(basic->user == "alice");
    CHECK(basic->password == "pa:ss"); // the password may hold colons, the user may not
    for (const char* bad : {"", "bearer", "bearer:", "bearer:a b", "basic:alice", "basic::pw",
                            "digest:x", "Bearer:x"}) {
        CAPTURE(bad);
        auto parsed = serve::parse_credential(bad);
        REQUIRE_FALSE(parsed);
        CHECK(parsed.error().code == rtx::core::ExitCode::usage);
        CHECK(parsed.error().message.find('\n') == std::string::npos);
    }
}

TEST_CASE("a request is let in by any one credential") {
    const auto open = serve::AccessOptions{};
    CHECK(serve::authorized(open, std::nullopt, std::nullopt));

    const auto access = with({"bearer:tok", "basic:alice:secret"});
    CHECK(serve::authorized(access, "Bearer tok", std::nullopt));
    CHECK(serve::authorized(access, "bearer   tok ", std::nullopt)); // scheme is case-blind
    CHECK(serve::authorized(access, std::nullopt, "tok"));           // ?access_token=
    CHECK(serve::authorized(access, "Basic YWxpY2U6c2VjcmV0", std::nullopt)); // alice:secret
    CHECK(serve::authorized(access, "BASIC YWxpY2U6c2VjcmV0", std::nullopt));

    CHECK_FALSE(serve::authorized(access, std::nullopt, std::nullopt));
    CHECK_FALSE(serve::authorized(access, "Bearer to", std::nullopt));
    CHECK_FALSE(serve::authorized(access, "Bearer tokk", std::nullopt));
    CHECK_FALSE(serve::authorized(access, "tok", std::nullopt));
    CHECK_FALSE(serve::authorized(access, "Basic tok", std::nullopt));
    CHECK_FALSE(serve::authorized(access, "Basic YWxpY2U6c2VjcmVU", std::nullopt)); // secreT
    CHECK_FALSE(serve::authorized(access, "Bearer YWxpY2U6c2VjcmV0", std::nullopt));
    CHECK_FALSE(serve::authorized(access, std::nullopt, "tok2"));
    // A basic credential is never taken from the query.
    CHECK_FALSE(serve::authorized(with({"basic:alice:secret"}), std::nullopt, "alice:secret"));
}

TEST_CASE("WWW-Authenticate names the schemes configured") {
    CHECK(serve::www_authenticate(with({"bearer:t"})) == "Bearer realm=\"rtx\"");
    CHECK(serve::www_authenticate(with({"basic:u:p"})) == "Basic realm=\"rtx\", charset=\"UTF-8\"");
    CHECK(serve::www_authenticate(with({"basic:u:p", "bearer:t"})) ==
          "Bearer realm=\"rtx\", Basic realm=\"rtx\", charset=\"UTF-8\"");
}

TEST_CASE("CORS answers") {
    serve::AccessOptions access;
    auto any = serve::cors_answer(access, "http://a.example");
    REQUIRE(any);
    CHECK(any->allow_origin == "*");
    CHECK_FALSE(any->credentials);

    access.cors_origins = {"http://localhost:3000"};
    auto listed = serve::cors_answer(access, "http://localhost:3000");
    REQUIRE(listed);
    CHECK(listed->allow_origin == "http://localhost:3000");
    CHECK(listed->credentials);
    CHECK_FALSE(serve::cors_answer(access, "http://localhost:3001"));
    CHECK_FALSE(serve::cors_answer(access, std::nullopt));

    access.cors_origins = {"*"};
    auto star = serve::cors_answer(access, "https://x.example");
    REQUIRE(star);
    CHECK(star->allow_origin == "https://x.example"); // credentials need the origin itself
    CHECK(star->credentials);
}
