// Tests for proto/framing.hpp: cutting stdin and raw TCP streams into messages.
#include "proto/framing.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace std::string_view_literals;
using rtx::proto::Framer;
using rtx::proto::Framing;
using rtx::proto::framing_delimiter;
using rtx::proto::framing_name;
using rtx::proto::parse_framing;

namespace {

using Messages = std::vector<std::string>;

// Feeds `chunks` in order, then finishes; every feed must succeed.
Messages frame_chunks(Framing framing, const std::vector<std::string_view>& chunks) {
    Framer framer(framing);
    Messages out;
    auto emit = [&](std::string_view m) {
        out.emplace_back(m);
    };
    for (std::string_view chunk : chunks) {
        REQUIRE(framer.feed(chunk, emit));
    }
    framer.finish(emit);
    CHECK(framer.buffered() == 0);
    return out;
}

Messages frame(Framing framing, std::string_view input) {
    return frame_chunks(framing, {input});
}

std::string join(const Messages& messages) {
    std::string out;
    for (const auto& m : messages) {
        out += m;
    }
    return out;
}

// Inputs with every awkward spot: CRLF, a CR split from its LF, empty messages, CR inside a
// line, a delimiter as the first and last byte, and a last message without delimiter.
constexpr std::string_view k_lines_input = "\nhello\r\nworld\n\n\r\na\rb\n\r\r\nlast\r\nno newline";
const Messages k_lines_expected = {"",     "hello", "world", "",          "",
                                   "a\rb", "\r",    "last",  "no newline"};

constexpr std::string_view k_nul_input = "\0one\0two\r\n\0\0three\nfour\0tail"sv;
const Messages k_nul_expected = {"", "one", "two\r\n", "", "three\nfour", "tail"};

} // namespace

TEST_CASE("Framer lines: one message per line") {
    SUBCASE("LF") {
        CHECK(frame(Framing::lines, "a\nb\n") == Messages{"a", "b"});
    }
    SUBCASE("CRLF is stripped") {
        CHECK(frame(Framing::lines, "a\r\nb\r\n") == Messages{"a", "b"});
    }
    SUBCASE("only the CR right before LF is stripped") {
        CHECK(frame(Framing::lines, "a\rb\n\r\r\n") == Messages{"a\rb", "\r"});
    }
    SUBCASE("empty lines are messages") {
        CHECK(frame(Framing::lines, "\n\n") == Messages{"", ""});
        CHECK(frame(Framing::lines, "\r\n") == Messages{""});
    }
    SUBCASE("last line without LF is emitted by finish()") {
        Framer framer(Framing::lines);
        Messages out;
        auto emit = [&](std::string_view m) {
            out.emplace_back(m);
        };
        CHECK(framer.feed("a\nlast", emit));
        CHECK(out == Messages{"a"});
        CHECK(framer.buffered() == 4);
        framer.finish(emit);
        CHECK(out == Messages{"a", "last"});
        CHECK(framer.buffered() == 0);
    }
    SUBCASE("last line with CR but no LF") {
        CHECK(frame(Framing::lines, "last\r") == Messages{"last"});
    }
    SUBCASE("finish() after a final LF adds nothing") {
        CHECK(frame(Framing::lines, "a\n") == Messages{"a"});
    }
    SUBCASE("no input, no messages") {
        CHECK(frame(Framing::lines, "").empty());
    }
    SUBCASE("NUL bytes are ordinary bytes") {
        CHECK(frame(Framing::lines, "a\0b\n"sv) == Messages{std::string("a\0b", 3)});
    }
    SUBCASE("a line across feeds") {
        CHECK(frame_chunks(Framing::lines, {"hel", "lo wor", "ld\n"}) == Messages{"hello world"});
    }
    SUBCASE("empty feeds change nothing") {
        CHECK(frame_chunks(Framing::lines, {"", "a", "", "\n", ""}) == Messages{"a"});
    }
    SUBCASE("the fixed input") {
        CHECK(frame(Framing::lines, k_lines_input) == k_lines_expected);
    }
}

TEST_CASE("Framer nul: messages end with a NUL byte") {
    SUBCASE("basic") {
        CHECK(frame(Framing::nul, "a\0b\0"sv) == Messages{"a", "b"});
    }
    SUBCASE("CR and LF are ordinary bytes") {
        CHECK(frame(Framing::nul, "a\r\nb\r\0"sv) == Messages{"a\r\nb\r"});
    }
    SUBCASE("empty messages") {
        CHECK(frame(Framing::nul, "\0\0"sv) == Messages{"", ""});
    }
    SUBCASE("last message without NUL is emitted by finish()") {
        CHECK(frame(Framing::nul, "a\0tail"sv) == Messages{"a", "tail"});
    }
    SUBCASE("the fixed input") {
        CHECK(frame(Framing::nul, k_nul_input) == k_nul_expected);
    }
}

TEST_CASE("Framer raw: every chunk is one message, untouched") {
    SUBCASE("chunks pass through") {
        CHECK(frame_chunks(Framing::raw, {"a\n", "b\0c"sv, "\r\n"}) ==
              Messages{"a\n", std::string("b\0c", 3), "\r\n"});
    }
    SUBCASE("empty chunks are not messages") {
        CHECK(frame_chunks(Framing::raw, {"", "x", ""}) == Messages{"x"});
    }
    SUBCASE("nothing is held back") {
        Framer framer(Framing::raw);
        Messages out;
        auto emit = [&](std::string_view m) {
            out.emplace_back(m);
        };
        CHECK(framer.feed("no delimiter", emit));
        CHECK(framer.buffered() == 0);
        framer.finish(emit);
        CHECK(out == Messages{"no delimiter"});
    }
}

TEST_CASE("Framer: a message whole inside one feed is passed as a view into the input") {
    const std::string input = "first\nsecond\n";
    Framer framer(Framing::lines);
    std::vector<const char*> starts;
    framer.feed(input, [&](std::string_view m) { starts.push_back(m.data()); });
    REQUIRE(starts.size() == 2);
    CHECK(starts[0] == input.data());
    CHECK(starts[1] == input.data() + 6);
}

// The key property: TCP and pipes deliver bytes in arbitrary chunks, and the messages must
// not depend on where the chunks were cut.
namespace {
struct SplitCase {
    Framing framing;
    std::string_view input;
    const Messages& expected;
};
const SplitCase k_split_cases[] = {
    {Framing::lines, k_lines_input, k_lines_expected},
    {Framing::nul, k_nul_input, k_nul_expected},
};
} // namespace

TEST_CASE("Framer: splitting the input anywhere yields the same messages") {
    SUBCASE("whole") {
        for (const auto& c : k_split_cases) {
            CAPTURE(framing_name(c.framing));
            CHECK(frame(c.framing, c.input) == c.expected);
        }
    }
    SUBCASE("one split at every byte position") {
        for (const auto& c : k_split_cases) {
            CAPTURE(framing_name(c.framing));
            for (std::size_t i = 0; i <= c.input.size(); ++i) {
                CAPTURE(i);
                CHECK(frame_chunks(c.framing, {c.input.substr(0, i), c.input.substr(i)}) ==
                      c.expected);
            }
        }
    }
    SUBCASE("two splits at every pair of positions") {
        for (const auto& c : k_split_cases) {
            CAPTURE(framing_name(c.framing));
            for (std::size_t i = 0; i <= c.input.size(); ++i) {
                for (std::size_t j = i; j <= c.input.size(); ++j) {
                    CAPTURE(i);
                    CAPTURE(j);
                    CHECK(frame_chunks(c.framing, {c.input.substr(0, i), c.input.substr(i, j - i),
                                                   c.input.substr(j)}) == c.expected);
                }
            }
        }
    }
    SUBCASE("byte by byte") {
        for (const auto& c : k_split_cases) {
            CAPTURE(framing_name(c.framing));
            std::vector<std::string_view> bytes;
            for (std::size_t i = 0; i < c.input.size(); ++i) {
                bytes.push_back(c.input.substr(i, 1));
            }
            CHECK(frame_chunks(c.framing, bytes) == c.expected);
        }
    }
}

TEST_CASE("Framer raw: splitting the input anywhere keeps every byte in order") {
    const std::string_view input = k_nul_input;
    for (std::size_t i = 0; i <= input.size(); ++i) {
        CAPTURE(i);
        Messages messages = frame_chunks(Framing::raw, {input.substr(0, i), input.substr(i)});
        CHECK(join(messages) == input);
        CHECK(messages.size() == (i == 0 || i == input.size() ? 1u : 2u));
    }
}

TEST_CASE("Framer: max_message bounds the unfinished message") {
    Messages out;
    auto emit = [&](std::string_view m) {
        out.emplace_back(m);
    };

    SUBCASE("exactly max_message bytes may wait") {
        Framer framer(Framing::lines, 4);
        CHECK(framer.feed("abcd", emit));
        CHECK(framer.buffered() == 4);
        CHECK(framer.feed("\n", emit));
        CHECK(out == Messages{"abcd"});
    }
    SUBCASE("one byte more fails") {
        Framer framer(Framing::lines, 4);
        CHECK_FALSE(framer.feed("ab\nabcde", emit));
        CHECK(out == Messages{"ab"}); // complete messages before the overflow still count
        CHECK(framer.buffered() == 0);
    }
    SUBCASE("overflow built up across feeds") {
        Framer framer(Framing::nul, 4);
        CHECK(framer.feed("ab", emit));
        CHECK(framer.feed("cd", emit));
        CHECK_FALSE(framer.feed("e", emit));
        CHECK(framer.buffered() == 0);
    }
    SUBCASE("after overflow the Framer is spent: nothing more is emitted") {
        Framer framer(Framing::lines, 4);
        CHECK_FALSE(framer.feed("toolong", emit));
        CHECK_FALSE(framer.feed("\nok\n", emit));
        CHECK_FALSE(framer.feed("", emit));
        framer.finish(emit);
        CHECK(out.empty());
    }
    SUBCASE("a complete message inside one feed is not held, so it may exceed the bound") {
        Framer framer(Framing::lines, 4);
        CHECK(framer.feed("abcdefgh\n", emit));
        CHECK(out == Messages{"abcdefgh"});
    }
    SUBCASE("raw holds nothing, so it never overflows") {
        Framer framer(Framing::raw, 4);
        CHECK(framer.feed("abcdefgh", emit));
        CHECK(out == Messages{"abcdefgh"});
    }
}

TEST_CASE("Framer: the default bound") {
    CHECK(Framer::k_default_max_message == 64u * 1024 * 1024);
}

TEST_CASE("parse_framing") {
    SUBCASE("names") {
        CHECK(parse_framing("lines") == Framing::lines);
        CHECK(parse_framing("raw") == Framing::raw);
        CHECK(parse_framing("nul") == Framing::nul);
    }
    SUBCASE("aliases") {
        CHECK(parse_framing("line") == Framing::lines);
        CHECK(parse_framing("null") == Framing::nul);
    }
    SUBCASE("unknown names") {
        CHECK_FALSE(parse_framing("").has_value());
        CHECK_FALSE(parse_framing("LINES").has_value());
        CHECK_FALSE(parse_framing("newline").has_value());
        CHECK_FALSE(parse_framing("lines ").has_value());
    }
}

TEST_CASE("framing_name and framing_delimiter") {
    for (Framing framing : {Framing::lines, Framing::raw, Framing::nul}) {
        CAPTURE(framing_name(framing));
        CHECK(parse_framing(framing_name(framing)) == framing);
    }
    CHECK(framing_name(Framing::lines) == "lines");
    CHECK(framing_name(Framing::raw) == "raw");
    CHECK(framing_name(Framing::nul) == "nul");
    CHECK(framing_delimiter(Framing::lines) == "\n");
    CHECK(framing_delimiter(Framing::raw).empty());
    CHECK(framing_delimiter(Framing::nul) == "\0"sv);
    CHECK(framing_delimiter(Framing::nul).size() == 1);
}
