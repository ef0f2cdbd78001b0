// Tests for bench/message_template.hpp and bench/checks.hpp: the user's own messages,
// the replies that end a round trip, and the checks on what arrives.
#include "bench/checks.hpp"
#include "bench/message_template.hpp"

#include <doctest/doctest.h>

#include <string>

using rtx::bench::MessageTemplate;
using rtx::bench::parse_check;
using rtx::bench::parse_messages;
using rtx::bench::passes;

TEST_CASE("placeholders are filled in; other braces are text") {
    auto parsed = MessageTemplate::parse(R"({"id":{seq},"c":{conn},"t":{time},"x":{nope}})");
    REQUIRE(parsed);
    std::string out = "old";
    parsed->render(out, 7, 2, 1796610600123);
    CHECK(out == R"({"id":7,"c":2,"t":1796610600123,"x":{nope}})");
    auto plain = MessageTemplate::parse("ping {seq");
    REQUIRE(plain);
    plain->render(out, 1, 1, 0);
    CHECK(out == "ping {seq");
}

TEST_CASE("--message @FILE takes one template per non-empty line") {
    auto templates = parse_messages("@f", "a {seq}\r\n\nb\n");
    REQUIRE(templates);
    REQUIRE(templates->size() == 2);
    std::string out;
    (*templates)[0].render(out, 3, 1, 0);
    CHECK(out == "a 3");
    CHECK_FALSE(parse_messages("@f", "\n\n"));
    CHECK_FALSE(parse_messages("two\nlines", ""));
}

TEST_CASE("checks: payload~ must match, payload!~ must not") {
    auto has_id = parse_check(R"(payload~"id":\d+)");
    auto no_error = parse_check("payload!~error");
    REQUIRE(has_id);
    REQUIRE(no_error);
    std::vector checks{*has_id, *no_error};
    CHECK(passes(checks, R"({"id":12})"));
    CHECK_FALSE(passes(checks, R"({"id":"x"})"));
    CHECK_FALSE(passes(checks, R"({"id":12,"error":1})"));
    CHECK(passes({}, "anything"));
    CHECK_FALSE(parse_check("body~x"));
    CHECK_FALSE(parse_check("payload~("));
}
