// Tests for serve/http/custom_route.hpp: `rtx serve --route [METHODS ]PATH=KIND:TOPIC`.
#include "serve/http/custom_route.hpp"

#include <doctest/doctest.h>

#include <vector>

using rtx::serve::http::CustomRoute;
using rtx::serve::http::find_custom_route;
using rtx::serve::http::parse_custom_route;
using rtx::serve::http::RouteKind;

TEST_CASE("route: PATH=KIND:TOPIC with the kind's default method") {
    auto route = parse_custom_route("/api/v1/events=sse:news");
    REQUIRE(route.ok());
    CHECK(route->path == "/api/v1/events");
    CHECK(route->kind == RouteKind::sse);
    CHECK(route->topic == "news");
    CHECK(route->methods == std::vector<std::string>{"GET"});
    CHECK(route->allow_header() == "GET, OPTIONS");
    auto publish = parse_custom_route("/in=publish:a/b");
    REQUIRE(publish.ok());
    CHECK(publish->topic == "a/b");
    CHECK(publish->methods == std::vector<std::string>{"POST"});
    for (auto [spec, kind] :
         {std::pair{"/s=stream:t", RouteKind::stream}, std::pair{"/p=poll:t", RouteKind::poll},
          std::pair{"/w=ws:t", RouteKind::ws}}) {
        CAPTURE(spec);
        auto parsed = parse_custom_route(spec);
        REQUIRE(parsed.ok());
        CHECK(parsed->kind == kind);
        CHECK(parsed->methods == std::vector<std::string>{"GET"});
    }
}

TEST_CASE("route: METHODS before the path, any case, duplicates dropped") {
    auto route = parse_custom_route("post,GET,Post /v1/chat/completions=sse:llm");
    REQUIRE(route.ok());
    CHECK(route->methods == std::vector<std::string>{"POST", "GET"});
    CHECK(route->allows("POST"));
    CHECK_FALSE(route->allows("PUT"));
    CHECK(route->allow_header() == "POST, GET, OPTIONS");
    auto put = parse_custom_route("PUT /up=publish:t");
    REQUIRE(put.ok());
    CHECK(put->allows("PUT"));
    // The first '=' ends the path: the topic may hold '=' and ':'.
    auto odd = parse_custom_route("/x=sse:a=b:c");
    REQUIRE(odd.ok());
    CHECK(odd->path == "/x");
    CHECK(odd->topic == "a=b:c");
}

TEST_CASE("route: bad specs are one-line usage errors") {
    for (auto [spec, why] : {
             std::pair{"/events", "not [METHODS ]PATH=KIND:TOPIC"},
             std::pair{"events=sse:t", "the path must start with /"},
             std::pair{"=sse:t", "the path must start with /"},
             std::pair{"/a?b=sse:t", "printable ASCII without spaces, ? or #"},
             std::pair{"/e=sse", "no KIND:TOPIC after '='"},
             std::pair{"/e=mqtt:t", "unknown kind 'mqtt'"},
             std::pair{"/e=sse:", "no topic after the kind"},
             std::pair{"DELETE /e=sse:t",
                       "method 'DELETE' is not for a sse route (allowed: GET, POST)"},
             std::pair{"POST /e=ws:t", "method 'POST' is not for a ws route (allowed: GET)"},
             std::pair{"GET /e=publish:t", "is not for a publish route (allowed: POST, PUT)"},
             std::pair{"GET, /e=sse:t", "method '' is not for a sse route"},
         }) {
        CAPTURE(spec);
        auto route = parse_custom_route(spec);
        REQUIRE_FALSE(route.ok());
        CHECK(route.error().code == rtx::core::ExitCode::usage);
        CHECK(route.error().message.starts_with("--route '"));
        CHECK(route.error().message.find(why) != std::string::npos);
        CHECK(route.error().message.find('\n') == std::string::npos);
    }
}

TEST_CASE("route: lookup is by exact path") {
    std::vector<CustomRoute> routes;
    for (const char* spec : {"/a=sse:x", "/a/b=poll:y"}) {
        auto route = parse_custom_route(spec);
        REQUIRE(route.ok());
        routes.push_back(route.value());
    }
    REQUIRE(find_custom_route(routes, "/a") != nullptr);
    CHECK(find_custom_route(routes, "/a")->topic == "x");
    CHECK(find_custom_route(routes, "/a/b")->topic == "y");
    CHECK(find_custom_route(routes, "/a/") == nullptr);
    CHECK(find_custom_route(routes, "/") == nullptr);
}
