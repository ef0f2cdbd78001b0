// Tests for the streaming-API output of every client: output/line_template.hpp's {/pointer}
// and {key} placeholders and LineTemplate::pick (--pick, --format), client/until.hpp (--until).
#include "client/until.hpp"
#include "output/line_template.hpp"

#include <doctest/doctest.h>

#include <string>

using rtx::client::UntilPattern;
using rtx::output::LineTemplate;
using rtx::output::Record;
using Expansion = LineTemplate::Expansion;

namespace {

Record json_record(std::string_view payload) {
    Record r;
    r.time =
        std::chrono::system_clock::time_point(std::chrono::microseconds(1'700'000'000'123'456));
    r.protocol = "sse";
    r.connection = 1;
    r.event = "message";
    r.id = "7";
    r.topic = "llm";
    r.payload = payload;
    return r;
}

std::string run(const LineTemplate& line, std::string_view payload, Expansion expected) {
    std::string out;
    CHECK(line.append(out, json_record(payload)) == expected);
    return out;
}

constexpr std::string_view k_chunk =
    R"({"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}],"usage":null,)"
    R"("n":1.5,"ok":true,"obj":{"a":[1,2]},"a/b":"slash","m~n":"tilde"})";

} // namespace

TEST_CASE("pick: strings print as text, other values as compact JSON") {
    auto line = LineTemplate::pick({"/choices/0/delta/content"});
    REQUIRE(line.ok());
    CHECK(run(*line, k_chunk, Expansion::written) == "Hel");
    for (auto [pointer, expected] :
         {std::pair{"/n", "1.5"}, std::pair{"/ok", "true"}, std::pair{"/usage", "null"},
          std::pair{"/obj", R"({"a":[1,2]})"}, std::pair{"/obj/a/1", "2"},
          std::pair{"/a~1b", "slash"}, std::pair{"/m~0n", "tilde"}}) {
        CAPTURE(pointer);
        auto picked = LineTemplate::pick({pointer});
        REQUIRE(picked.ok());
        CHECK(run(*picked, k_chunk, Expansion::written) == expected);
    }
}

TEST_CASE("pick: several pointers are tab-separated; a missing one prints nothing") {
    auto line = LineTemplate::pick({"/id", "/nope", "/choices/0/index"});
    REQUIRE(line.ok());
    CHECK(run(*line, k_chunk, Expansion::written) == "c1\t\t0");
}

TEST_CASE("pick: messages that are not JSON, or lack every pointer, are skipped") {
    auto line = LineTemplate::pick({"/choices/0/delta/content"});
    REQUIRE(line.ok());
    CHECK(run(*line, "[DONE]", Expansion::not_json).empty());
    CHECK(run(*line, "", Expansion::not_json).empty());
    CHECK(run(*line, R"({"choices":[)", Expansion::not_json).empty());
    CHECK(run(*line, R"({"choices":[{"delta":{}}]})", Expansion::missing).empty());
    CHECK(run(*line, R"({"choices":[]})", Expansion::missing).empty());
    CHECK(run(*line, R"({"choices":{"0":{"delta":{"content":"x"}}}})", Expansion::written) == "x");
    CHECK(run(*line, R"([1,2])", Expansion::missing).empty());
    CHECK(run(*line, "42", Expansion::missing).empty());
}

TEST_CASE("pick: array indexes that are not numbers do not throw") {
    auto line = LineTemplate::pick({"/choices/-/x", "/choices/01", "/choices/x"});
    REQUIRE(line.ok());
    CHECK(run(*line, k_chunk, Expansion::missing).empty());
}

TEST_CASE("pick: pointers that are not RFC 6901 are usage errors") {
    for (const char* bad : {"choices", "/a~2", "/a~"}) {
        CAPTURE(bad);
        auto line = LineTemplate::pick({bad});
        REQUIRE_FALSE(line.ok());
        CHECK(line.error().code == rtx::core::ExitCode::usage);
        CHECK(line.error().message.starts_with("--pick: "));
    }
}

TEST_CASE("format: {/pointer} and {key} placeholders with % letters and literal braces") {
    auto line = LineTemplate::parse("{topic}#{id} {/choices/0/delta/content}|%p|{\"k\":%l}");
    REQUIRE(line.ok());
    CHECK(run(*line, R"({"choices":[{"delta":{"content":"x"}}]})", Expansion::written) ==
          R"(llm#7 x|{"choices":[{"delta":{"content":"x"}}]}|{"k":39})"); // %l: 39 bytes
    auto keys = LineTemplate::parse(
        "{time} {protocol} {connection} {event} {payload} {encoding} {size} {qos} {retain}");
    REQUIRE(keys.ok());
    CHECK(run(*keys, "[DONE]", Expansion::written) ==
          "2023-11-14T22:13:20.123456Z sse 1 message [DONE] utf8 6 0 false");
}

TEST_CASE("format: a template without pointers never skips; with them, like --pick") {
    auto plain = LineTemplate::parse("{payload}!");
    REQUIRE(plain.ok());
    CHECK(run(*plain, "[DONE]", Expansion::written) == "[DONE]!");
    auto pointed = LineTemplate::parse("{id}: {/price}");
    REQUIRE(pointed.ok());
    CHECK(run(*pointed, "[DONE]", Expansion::not_json).empty());
    CHECK(run(*pointed, R"({"price":101.25})", Expansion::written) == "7: 101.25");
}

TEST_CASE("format: unknown keys and unclosed pointers are usage errors") {
    for (const char* bad : {"{nope}", "{/a", "{/a~3}", "{Topic}x{pay_load}"}) {
        CAPTURE(bad);
        auto line = LineTemplate::parse(bad);
        REQUIRE_FALSE(line.ok());
        CHECK(line.error().code == rtx::core::ExitCode::usage);
        CHECK(line.error().message.starts_with("--format: "));
    }
    for (const char* literal : {"{", "{}", "{ topic}", "{\"a\":1}", "{Topic}", "{topic"}) {
        CAPTURE(literal);
        auto line = LineTemplate::parse(literal);
        REQUIRE(line.ok());
        CHECK(run(*line, "p", Expansion::written) == literal);
    }
}

TEST_CASE("until: searched anywhere in the payload, ECMAScript syntax") {
    auto done = UntilPattern::parse(R"(^\[DONE\]$)");
    REQUIRE(done.ok());
    CHECK(done->matches("[DONE]"));
    CHECK_FALSE(done->matches(" [DONE]"));
    CHECK_FALSE(done->matches(R"({"content":"[DONE]"})"));
    auto word = UntilPattern::parse("finish_reason\":\"stop");
    REQUIRE(word.ok());
    CHECK(word->matches(R"({"choices":[{"finish_reason":"stop"}]})"));
    CHECK_FALSE(word->matches(R"({"choices":[{"finish_reason":null}]})"));
    auto binary = UntilPattern::parse("end");
    REQUIRE(binary.ok());
    CHECK(binary->matches(std::string_view("\0\xff"
                                           "end",
                                           5)));
}

TEST_CASE("until: empty or malformed patterns are usage errors") {
    for (const char* bad : {"", "[DONE", "(a", "a{2,1}"}) {
        CAPTURE(bad);
        auto pattern = UntilPattern::parse(bad);
        REQUIRE_FALSE(pattern.ok());
        CHECK(pattern.error().code == rtx::core::ExitCode::usage);
        CHECK(pattern.error().message.starts_with("--until: "));
    }
}
