// Tests for proto/sse_parser.hpp: text/event-stream per WHATWG HTML 9.2.6.
#include "proto/sse_parser.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

using namespace std::string_view_literals;
using rtx::proto::SseEvent;
using rtx::proto::SseParser;

namespace {

// What the parser reported, in order, one line each: events, retries and comments.
struct Transcript : std::vector<std::string> {
    using std::vector<std::string>::vector;
};

std::string escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\0':
            out += "\\0";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::ostream& operator<<(std::ostream& os, const Transcript& transcript) {
    os << "{";
    for (const auto& item : transcript) {
        os << "\n  " << item;
    }
    return os << "\n}";
}

std::string event(std::string_view type, std::string_view data, std::string_view id = "") {
    return "event " + std::string(type) + " \"" + escape(data) + "\" id=\"" + escape(id) + "\"";
}

std::string message(std::string_view data, std::string_view id = "") {
    return event("message", data, id);
}

std::string retry(std::uint64_t ms) {
    return "retry " + std::to_string(ms);
}

std::string comment(std::string_view text) {
    return "comment \"" + escape(text) + "\"";
}

// A parser whose callbacks append to `got`.
struct Session {
    explicit Session(std::size_t max_event = SseParser::k_default_max_event)
        : parser(max_event) {}

    bool feed(std::string_view bytes) {
        return parser.feed(
            bytes,
            [this](const SseEvent& e) { got.push_back(event(e.type, e.data, e.last_event_id)); },
            [this](std::uint64_t ms) { got.push_back(retry(ms)); },
            [this](std::string_view text) { got.push_back(comment(text)); });
    }

    SseParser parser;
    Transcript got;
};

struct Outcome {
    Transcript got;
    bool spent = false;
    std::string last_event_id;

    bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& outcome) {
    return os << outcome.got << (outcome.spent ? " spent" : "") << " last_event_id=\""
              << escape(outcome.last_event_id) << "\"";
}

// Feeds `chunks` in order (stopping at the first failed feed), then finishes.
Outcome run(const std::vector<std::string_view>& chunks,
            std::size_t max_event = SseParser::k_default_max_event) {
    Session session(max_event);
    Outcome outcome;
    for (std::string_view chunk : chunks) {
        if (!session.feed(chunk)) {
            outcome.spent = true;
            break;
        }
    }
    session.parser.finish();
    CHECK(session.parser.buffered() == 0);
    outcome.got = session.got;
    outcome.last_event_id = session.parser.last_event_id();
    return outcome;
}

Transcript parse_chunks(const std::vector<std::string_view>& chunks) {
    Outcome outcome = run(chunks);
    CHECK_FALSE(outcome.spent);
    return outcome.got;
}

Transcript parse(std::string_view input) {
    return parse_chunks({input});
}

std::vector<std::string_view> bytes_of(std::string_view input) {
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < input.size(); ++i) {
        bytes.push_back(input.substr(i, 1));
    }
    return bytes;
}

// The spec's examples from 9.2.6 joined, plus every other rule: a BOM, CRLF and CR-only line
// ends, a retry, a comment inside an event, an id without data, an id with NUL, ill-formed
// UTF-8 and an unterminated last block.
constexpr std::string_view k_stream = "\xEF\xBB\xBF"
                                      ": test stream\n"
                                      "\n"
                                      "data: first event\n"
                                      "id: 1\n"
                                      "\n"
                                      "data:second event\n"
                                      "id\n"
                                      "\n"
                                      "data:  third event\n"
                                      "\n"
                                      "data: YHOO\r\n"
                                      "data: +2\r\n"
                                      "data: 10\r\n"
                                      "\r\n"
                                      "event: add\r"
                                      "data: a\r"
                                      "retry: 1500\r"
                                      "\r"
                                      "data\n"
                                      "\n"
                                      "data\n"
                                      "data\n"
                                      "\n"
                                      "id: 7\n"
                                      "\n"
                                      "data: x\n"
                                      ": keep-alive\n"
                                      "Data: no\n"
                                      "foo: bar\n"
                                      "data: y\n"
                                      "\n"
                                      "retry: x1\n"
                                      "id: a\0b\n"
                                      "event: ping\n"
                                      "data:test\n"
                                      "\n"
                                      "data: caf\xC3\xA9 \xE2\x82\r\n"
                                      "\r\n"
                                      "data: test\r"
                                      "\n"
                                      "\n"
                                      "data: never dispatched\n"
                                      "id: 9"sv;

const Transcript k_stream_expected = {
    comment(" test stream"),
    message("first event", "1"),
    message("second event"),
    message(" third event"),
    message("YHOO\n+2\n10"),
    retry(1500),
    event("add", "a"),
    message(""),
    message("\n"),
    comment(" keep-alive"),
    message("x\ny", "7"),
    event("ping", "test", "7"),
    message("caf\xC3\xA9 \xEF\xBF\xBD", "7"),
    message("test", "7"),
};

} // namespace

TEST_SUITE_BEGIN("sse_parser");

TEST_CASE("SseParser: the examples of WHATWG HTML 9.2.6") {
    SUBCASE("stock ticker: data lines are joined with LF") {
        CHECK(parse("data: YHOO\ndata: +2\ndata: 10\n\n") == Transcript{message("YHOO\n+2\n10")});
    }
    SUBCASE("four blocks: a comment, an id, an empty id, a leading space kept") {
        Session session;
        CHECK(session.feed(": test stream\n\ndata: first event\nid: 1\n\n"
                           "data:second event\nid\n\ndata:  third event\n\n"));
        CHECK(session.got == Transcript{comment(" test stream"), message("first event", "1"),
                                        message("second event", ""), message(" third event")});
        CHECK(session.parser.last_event_id().empty());
    }
    SUBCASE("the last block without a blank line is not dispatched") {
        CHECK(parse("data: first event\nid: 1\n\ndata:  third event") ==
              Transcript{message("first event", "1")});
        CHECK(parse("data: first event\nid: 1\n\ndata:  third event\n") ==
              Transcript{message("first event", "1")});
    }
    SUBCASE("two events: empty data and a single LF; the last block is discarded") {
        CHECK(parse("data\n\ndata\ndata\n\ndata:") == Transcript{message(""), message("\n")});
    }
    SUBCASE("the space after the colon is ignored if present") {
        CHECK(parse("data:test\n\ndata: test\n\n") == Transcript{message("test"), message("test")});
    }
}

TEST_CASE("SseParser: one leading UTF-8 BOM is stripped, once") {
    SUBCASE("at the start") {
        CHECK(parse("\xEF\xBB\xBF"
                    "data: x\n\n") == Transcript{message("x")});
    }
    SUBCASE("split across feeds") {
        CHECK(parse_chunks({"\xEF", "\xBB", "\xBF", "data: x\n\n"}) == Transcript{message("x")});
        CHECK(parse_chunks({"\xEF\xBB", "\xBF"
                                        "data: x\n\n"}) == Transcript{message("x")});
        CHECK(parse_chunks({"", "\xEF", "", "\xBB\xBF", "", "data: x\n\n"}) ==
              Transcript{message("x")});
    }
    SUBCASE("a second BOM is content: the field name is then not \"data\"") {
        CHECK(parse("\xEF\xBB\xBF\xEF\xBB\xBF"
                    "data: x\n\n")
                  .empty());
    }
    SUBCASE("not at the start of the stream") {
        CHECK(parse("data: x\n\xEF\xBB\xBF"
                    "data: y\n\n") == Transcript{message("x")});
    }
    SUBCASE("in a value it is kept") {
        CHECK(parse("data: \xEF\xBB\xBFx\n\n") == Transcript{message("\xEF\xBB\xBFx")});
    }
    SUBCASE("the start of a BOM that is not one is kept") {
        CHECK(parse("\xEF"
                    "data: x\n\n")
                  .empty());
        CHECK(parse_chunks({"\xEF\xBB", "data: x\n\n"}).empty());
        CHECK(parse_chunks({"\xEF", "\n", "data: x\n\n"}) == Transcript{message("x")});
    }
    SUBCASE("only a BOM") {
        CHECK(parse("\xEF\xBB\xBF").empty());
        CHECK(parse("\xEF\xBB").empty());
    }
    SUBCASE("stripped again after reset_for_reconnect()") {
        Session session;
        CHECK(session.feed("\xEF\xBB\xBF"
                           "data: a\n\n"));
        session.parser.reset_for_reconnect();
        CHECK(session.feed("\xEF\xBB\xBF"
                           "data: b\n\n"));
        CHECK(session.got == Transcript{message("a"), message("b")});
    }
}

TEST_CASE("SseParser: lines end with CRLF, LF or CR") {
    SUBCASE("LF") {
        CHECK(parse("data: a\ndata: b\n\n") == Transcript{message("a\nb")});
    }
    SUBCASE("CRLF") {
        CHECK(parse("data: a\r\ndata: b\r\n\r\n") == Transcript{message("a\nb")});
    }
    SUBCASE("CR only") {
        CHECK(parse("data: a\rdata: b\r\r") == Transcript{message("a\nb")});
        CHECK(parse("event: e\rid: 3\rdata: a\r\r") == Transcript{event("e", "a", "3")});
    }
    SUBCASE("mixed in one stream") {
        CHECK(parse("data: a\rdata: b\r\ndata: c\n\r\n") == Transcript{message("a\nb\nc")});
    }
    SUBCASE("CR then LF split across feeds is one line end") {
        CHECK(parse_chunks({"data: a\r", "\ndata: b\n\n"}) == Transcript{message("a\nb")});
        CHECK(parse_chunks({"data: a\r", "", "\ndata: b\n\n"}) == Transcript{message("a\nb")});
        CHECK(parse_chunks({"data: a\r", "\n", "\r", "\n"}) == Transcript{message("a")});
    }
    SUBCASE("CR at the end of a feed, then another CR, is a blank line") {
        CHECK(parse_chunks({"data: a\r", "\rdata: b\r\r"}) ==
              Transcript{message("a"), message("b")});
    }
    SUBCASE("CR CR and LF CR are two line ends each") {
        CHECK(parse("data: a\r\r") == Transcript{message("a")});
        CHECK(parse("data: a\n\r") == Transcript{message("a")});
        CHECK(parse("data: a\r\n\r\n") == Transcript{message("a")});
    }
    SUBCASE("a CR inside a line ends it") {
        CHECK(parse("data: a\rb\n\n") == Transcript{message("a")});
    }
}

TEST_CASE("SseParser: a line starting with a colon is a comment") {
    SUBCASE("reported unchanged, without an event") {
        CHECK(parse(": hello\n\n") == Transcript{comment(" hello")});
        CHECK(parse(":\n") == Transcript{comment("")});
        CHECK(parse("::x: y\n") == Transcript{comment(":x: y")});
    }
    SUBCASE("inside an event it does not end the event") {
        CHECK(parse("data: a\n: ping\ndata: b\n\n") ==
              Transcript{comment(" ping"), message("a\nb")});
    }
    SUBCASE("not a field even when it looks like one") {
        CHECK(parse(":data: a\n\n") == Transcript{comment("data: a")});
    }
    SUBCASE("the comment callback is optional") {
        SseParser parser;
        int events = 0;
        CHECK(parser.feed(": hi\ndata: a\n\n", [&](const SseEvent&) { ++events; }, {}));
        CHECK(events == 1);
    }
    SUBCASE("an unterminated comment is not reported") {
        CHECK(parse(": hi").empty());
    }
}

TEST_CASE("SseParser: field: value, with one leading space of the value stripped") {
    SUBCASE("no space") {
        CHECK(parse("data:x\n\n") == Transcript{message("x")});
    }
    SUBCASE("one space is stripped, only one") {
        CHECK(parse("data: x\n\n") == Transcript{message("x")});
        CHECK(parse("data:  x\n\n") == Transcript{message(" x")});
    }
    SUBCASE("other white space is kept") {
        CHECK(parse("data:\tx\n\n") == Transcript{message("\tx")});
        CHECK(parse("data: x \n\n") == Transcript{message("x ")});
    }
    SUBCASE("the value runs to the end of the line, colons included") {
        CHECK(parse("data: a:b: c\n\n") == Transcript{message("a:b: c")});
    }
    SUBCASE("empty values") {
        CHECK(parse("data:\n\n") == Transcript{message("")});
        CHECK(parse("data: \n\n") == Transcript{message("")});
    }
    SUBCASE("names are compared literally") {
        CHECK(parse("Data: x\n\n").empty());
        CHECK(parse("DATA: x\n\n").empty());
        CHECK(parse("data : x\n\n").empty());
        CHECK(parse(" data: x\n\n").empty());
    }
    SUBCASE("NUL bytes are ordinary characters") {
        CHECK(parse("data: a\0b\n\n"sv) == Transcript{message("a\0b"sv)});
    }
}

TEST_CASE("SseParser: a line without a colon is a field name with an empty value") {
    CHECK(parse("data\n\n") == Transcript{message("")});
    CHECK(parse("data: a\ndata\n\n") == Transcript{message("a\n")});
    CHECK(parse("event\ndata: a\n\n") == Transcript{message("a")});
    CHECK(parse("datax\n\n").empty());
}

TEST_CASE("SseParser: event sets the event type") {
    SUBCASE("named event") {
        CHECK(parse("event: add\ndata: 1\n\n") == Transcript{event("add", "1")});
    }
    SUBCASE("the last event field wins") {
        CHECK(parse("event: a\nevent: b\ndata: 1\n\n") == Transcript{event("b", "1")});
    }
    SUBCASE("order within the block does not matter") {
        CHECK(parse("data: 1\nevent: add\n\n") == Transcript{event("add", "1")});
    }
    SUBCASE("an empty type is \"message\"") {
        CHECK(parse("event:\ndata: 1\n\n") == Transcript{message("1")});
        CHECK(parse("event: \ndata: 1\n\n") == Transcript{message("1")});
        CHECK(parse("event: add\nevent\ndata: 1\n\n") == Transcript{message("1")});
    }
    SUBCASE("the type is reset after each event") {
        CHECK(parse("event: add\ndata: 1\n\ndata: 2\n\n") ==
              Transcript{event("add", "1"), message("2")});
    }
    SUBCASE("a block without data resets the type too") {
        CHECK(parse("event: add\n\ndata: 2\n\n") == Transcript{message("2")});
    }
    SUBCASE("the type is not trimmed") {
        CHECK(parse("event:  add \ndata: 1\n\n") == Transcript{event(" add ", "1")});
    }
}

TEST_CASE("SseParser: data appends the value and LF; dispatch removes one LF") {
    SUBCASE("one line") {
        CHECK(parse("data: a\n\n") == Transcript{message("a")});
    }
    SUBCASE("lines are joined with LF") {
        CHECK(parse("data: a\ndata: b\ndata: c\n\n") == Transcript{message("a\nb\nc")});
    }
    SUBCASE("a bare data line appends just LF") {
        CHECK(parse("data\ndata\n\n") == Transcript{message("\n")});
        CHECK(parse("data\ndata\ndata\n\n") == Transcript{message("\n\n")});
        CHECK(parse("data: a\ndata\ndata: b\n\n") == Transcript{message("a\n\nb")});
    }
    SUBCASE("only one trailing LF is removed") {
        CHECK(parse("data: a\ndata:\n\n") == Transcript{message("a\n")});
    }
    SUBCASE("the data buffer is reset after each event") {
        CHECK(parse("data: a\n\ndata: b\n\n") == Transcript{message("a"), message("b")});
    }
}

TEST_CASE("SseParser: a blank line dispatches only when there is data") {
    SUBCASE("blank lines alone dispatch nothing") {
        CHECK(parse("\n\n\r\n\r").empty());
    }
    SUBCASE("fields without data dispatch nothing") {
        CHECK(parse("event: add\nid: 1\nfoo: bar\n\n").empty());
    }
    SUBCASE("extra blank lines between events change nothing") {
        CHECK(parse("data: a\n\n\n\ndata: b\n\n") == Transcript{message("a"), message("b")});
    }
}

TEST_CASE("SseParser: id sets the last event ID") {
    SUBCASE("the event carries the ID of its own block") {
        CHECK(parse("id: 1\ndata: a\n\n") == Transcript{message("a", "1")});
        CHECK(parse("data: a\nid: 1\n\n") == Transcript{message("a", "1")});
    }
    SUBCASE("the ID persists for later events") {
        Session session;
        CHECK(session.feed("id: 1\ndata: a\n\ndata: b\n\n"));
        CHECK(session.got == Transcript{message("a", "1"), message("b", "1")});
        CHECK(session.parser.last_event_id() == "1");
    }
    SUBCASE("it takes effect at the blank line") {
        Session session;
        CHECK(session.feed("id: 1\ndata: a\n"));
        CHECK(session.parser.last_event_id().empty());
        CHECK(session.feed("\n"));
        CHECK(session.parser.last_event_id() == "1");
    }
    SUBCASE("a block without data still updates it") {
        Session session;
        CHECK(session.feed("id: 5\n\n"));
        CHECK(session.got.empty());
        CHECK(session.parser.last_event_id() == "5");
        CHECK(session.feed("data: a\n\n"));
        CHECK(session.got == Transcript{message("a", "5")});
    }
    SUBCASE("an empty id clears it") {
        Session session;
        CHECK(session.feed("id: 1\n\nid\n\n"));
        CHECK(session.parser.last_event_id().empty());
        CHECK(session.feed("id: 2\n\nid:\ndata: a\n\n"));
        CHECK(session.got == Transcript{message("a", "")});
    }
    SUBCASE("the last id field of a block wins") {
        CHECK(parse("id: 1\nid: 2\ndata: a\n\n") == Transcript{message("a", "2")});
    }
    SUBCASE("the value is kept as is") {
        CHECK(parse("id:  x y \ndata: a\n\n") == Transcript{message("a", " x y ")});
    }
}

TEST_CASE("SseParser: an id containing NUL is ignored") {
    Session session;
    CHECK(session.feed("id: 1\n\n"));
    SUBCASE("NUL in the middle") {
        CHECK(session.feed("id: 2\0x\ndata: a\n\n"sv));
    }
    SUBCASE("NUL alone") {
        CHECK(session.feed("id: \0\ndata: a\n\n"sv));
    }
    SUBCASE("NUL at the end, in a block without data") {
        CHECK(session.feed("id: 2\0\n\ndata: a\n\n"sv));
    }
    CHECK(session.got == Transcript{message("a", "1")});
    CHECK(session.parser.last_event_id() == "1");
}

TEST_CASE("SseParser: retry with ASCII digits only sets the reconnection time") {
    SUBCASE("digits") {
        CHECK(parse("retry: 1500\n") == Transcript{retry(1500)});
        CHECK(parse("retry:0\n") == Transcript{retry(0)});
        CHECK(parse("retry: 007\n") == Transcript{retry(7)});
    }
    SUBCASE("reported when its line ends, before the block is dispatched") {
        CHECK(parse("data: a\nretry: 10\ndata: b\n\n") == Transcript{retry(10), message("a\nb")});
    }
    SUBCASE("it does not dispatch and does not touch the event") {
        CHECK(parse("retry: 10\n\n") == Transcript{retry(10)});
    }
    SUBCASE("anything but digits is ignored") {
        for (std::string_view value : {"1.5", "-1", "+1", " 1", "1 ", "1e3", "abc", "0x10", "",
                                       "\xEF\xBC\x91" /* FULLWIDTH DIGIT ONE */}) {
            CAPTURE(value);
            CHECK(parse("retry: " + std::string(value) + "\ndata: a\n\n") ==
                  Transcript{message("a")});
        }
        CHECK(parse("retry\n").empty());
        CHECK(parse("retry: 1\0\n"sv).empty());
    }
    SUBCASE("values past 64 bits are ignored") {
        CHECK(parse("retry: 18446744073709551615\n") == Transcript{retry(18446744073709551615u)});
        CHECK(parse("retry: 18446744073709551616\n").empty());
        CHECK(parse("retry: 99999999999999999999999\n").empty());
        CHECK(parse("retry: 000000000000000000000000000001\n") == Transcript{retry(1)});
    }
    SUBCASE("the retry callback is optional") {
        SseParser parser;
        CHECK(parser.feed("retry: 5\ndata: a\n\n", {}, {}));
    }
}

TEST_CASE("SseParser: other fields are ignored") {
    CHECK(parse("foo: bar\ndata: a\nretry2: 5\nids: 3\n\n") == Transcript{message("a")});
    CHECK(parse("foo: bar\n\n").empty());
}

TEST_CASE("SseParser: ill-formed UTF-8 becomes U+FFFD, as the UTF-8 decoder does") {
    const std::string fffd = "\xEF\xBF\xBD";
    SUBCASE("well-formed text is unchanged") {
        CHECK(parse("data: caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n\n") ==
              Transcript{message("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80")});
    }
    SUBCASE("a character split across feeds") {
        CHECK(parse_chunks({"data: caf\xC3", "\xA9\n\n"}) == Transcript{message("caf\xC3\xA9")});
        CHECK(parse_chunks({"data: \xF0", "\x9F", "\x98", "\x80\n\n"}) ==
              Transcript{message("\xF0\x9F\x98\x80")});
    }
    SUBCASE("one U+FFFD per maximal ill-formed subpart") {
        CHECK(parse("data: a\x80z\n\n") == Transcript{message("a" + fffd + "z")});
        CHECK(parse("data: \xFF\n\n") == Transcript{message(fffd)});
        CHECK(parse("data: \xC0\xAF\n\n") == Transcript{message(fffd + fffd)}); // overlong
        CHECK(parse("data: \xED\xA0\x80\n\n") == Transcript{message(fffd + fffd + fffd)});
        CHECK(parse("data: \xF4\x90\x80\x80\n\n") ==
              Transcript{message(fffd + fffd + fffd + fffd)}); // past U+10FFFF
        CHECK(parse("data: \xE2\x82z\n\n") == Transcript{message(fffd + "z")});
    }
    SUBCASE("a sequence cut by the end of the line") {
        CHECK(parse("data: \xE2\x82\r\n\n") == Transcript{message(fffd)});
        CHECK(parse("data: \xF0\x9F\ndata: \x98\x80\n\n") ==
              Transcript{message(fffd + "\n" + fffd + fffd)});
    }
    SUBCASE("in every value") {
        CHECK(parse("event: \xFF\nid: \xFF\ndata: a\n\n") == Transcript{event(fffd, "a", fffd)});
        CHECK(parse(":\xFF\n") == Transcript{comment(fffd)});
    }
}

TEST_CASE("SseParser: end of stream discards the unfinished block") {
    SUBCASE("no line end") {
        CHECK(parse("data: a").empty());
    }
    SUBCASE("no blank line") {
        CHECK(parse("data: a\n").empty());
        CHECK(parse("data: a\r").empty());
        CHECK(parse("data: a\r\n").empty());
    }
    SUBCASE("complete blocks before it count") {
        CHECK(parse("data: a\n\ndata: b\n") == Transcript{message("a")});
    }
    SUBCASE("the id of the unfinished block is not taken") {
        Outcome outcome = run({"id: 1\n\nid: 2\ndata: b\n"});
        CHECK(outcome.got.empty());
        CHECK(outcome.last_event_id == "1");
        CHECK(run({"id: 1\n\nid: 2"}).last_event_id == "1");
    }
    SUBCASE("a retry line that ended is already reported; one that did not is dropped") {
        CHECK(parse("retry: 5\nretry: 6") == Transcript{retry(5)});
    }
    SUBCASE("finish() leaves nothing held") {
        Session session;
        CHECK(session.feed("event: e\ndata: a\ndata: b\nid: 3\npartial"));
        CHECK(session.parser.buffered() > 0);
        session.parser.finish();
        CHECK(session.parser.buffered() == 0);
        CHECK(session.got.empty());
        CHECK(session.parser.last_event_id().empty());
    }
}

TEST_CASE("SseParser: the last event ID across reconnections") {
    SUBCASE("set_last_event_id() resumes a stream") {
        Session session;
        session.parser.set_last_event_id("42");
        CHECK(session.parser.last_event_id() == "42");
        CHECK(session.feed("data: a\n\nid: 43\ndata: b\n\n"));
        CHECK(session.got == Transcript{message("a", "42"), message("b", "43")});
    }
    SUBCASE("reset_for_reconnect() keeps it, even through a block without id") {
        Session session;
        CHECK(session.feed("id: 1\ndata: a\n\n"));
        session.parser.reset_for_reconnect();
        CHECK(session.parser.last_event_id() == "1");
        CHECK(session.feed("data: b\n\n"));
        CHECK(session.got == Transcript{message("a", "1"), message("b", "1")});
    }
    SUBCASE("reset_for_reconnect() drops what the old connection left unfinished") {
        Session session;
        CHECK(session.feed("id: 2\nevent: old\ndata: old\nda"));
        session.parser.reset_for_reconnect();
        CHECK(session.parser.buffered() == 0);
        CHECK(session.feed("ta: new\n\n"));
        CHECK(session.feed("data: new\n\n"));
        CHECK(session.got == Transcript{message("new")});
        CHECK(session.parser.last_event_id().empty());
    }
    SUBCASE("a CR at the end of the old connection does not swallow an LF of the new one") {
        Session session;
        CHECK(session.feed("data: a\r"));
        session.parser.reset_for_reconnect();
        CHECK(session.feed("\ndata: b\n\n"));
        CHECK(session.got == Transcript{message("b")});
    }
}

TEST_CASE("SseParser: a data line whole inside one feed is passed as a view into the input") {
    const std::string input = "data: first\n\nevent: e\ndata: second\n\n";
    SseParser parser;
    std::vector<const char*> starts;
    CHECK(parser.feed(input, [&](const SseEvent& e) { starts.push_back(e.data.data()); }, {}));
    REQUIRE(starts.size() == 2);
    CHECK(starts[0] == input.data() + 6);
    CHECK(starts[1] == input.data() + 28);
}

TEST_CASE("SseParser: views into a feed are copied before the feed returns") {
    SUBCASE("blank line in the next feed") {
        std::string first = "data: hello\n";
        Session session;
        CHECK(session.feed(first));
        first.assign(first.size(), 'X');
        CHECK(session.feed("\n"));
        CHECK(session.got == Transcript{message("hello")});
    }
    SUBCASE("second data line in the next feed") {
        std::string first = "data: hello\n";
        Session session;
        CHECK(session.feed(first));
        first.assign(first.size(), 'X');
        CHECK(session.feed("data: world\n\n"));
        CHECK(session.got == Transcript{message("hello\nworld")});
    }
}

// The key property: TCP delivers bytes in arbitrary chunks, and the events must not depend on
// where the chunks were cut (inside a CRLF, a BOM, a UTF-8 sequence, a field name...).
TEST_CASE("SseParser: splitting the input anywhere yields the same events") {
    SUBCASE("whole") {
        Outcome outcome = run({k_stream});
        CHECK(outcome.got == k_stream_expected);
        CHECK_FALSE(outcome.spent);
        CHECK(outcome.last_event_id == "7");
    }
    const Outcome whole = run({k_stream});
    SUBCASE("one split at every byte position") {
        for (std::size_t i = 0; i <= k_stream.size(); ++i) {
            CAPTURE(i);
            CHECK(run({k_stream.substr(0, i), k_stream.substr(i)}) == whole);
        }
    }
    SUBCASE("two splits at every pair of positions in the first blocks") {
        const std::string_view head = k_stream.substr(0, 120);
        const Outcome head_whole = run({head});
        CHECK(head_whole.got.size() == 5);
        for (std::size_t i = 0; i <= head.size(); ++i) {
            for (std::size_t j = i; j <= head.size(); ++j) {
                Outcome split = run({head.substr(0, i), head.substr(i, j - i), head.substr(j)});
                if (split != head_whole) {
                    CAPTURE(i);
                    CAPTURE(j);
                    CHECK(split == head_whole);
                }
            }
        }
    }
    SUBCASE("two splits at most 8 bytes apart, everywhere") {
        for (std::size_t i = 0; i <= k_stream.size(); ++i) {
            for (std::size_t j = i; j <= std::min(i + 8, k_stream.size()); ++j) {
                Outcome split =
                    run({k_stream.substr(0, i), k_stream.substr(i, j - i), k_stream.substr(j)});
                if (split != whole) {
                    CAPTURE(i);
                    CAPTURE(j);
                    CHECK(split == whole);
                }
            }
        }
    }
    SUBCASE("byte by byte") {
        CHECK(run(bytes_of(k_stream)) == whole);
    }
    SUBCASE("byte by byte with empty feeds between") {
        std::vector<std::string_view> chunks;
        for (std::string_view byte : bytes_of(k_stream)) {
            chunks.push_back(byte);
            chunks.push_back("");
        }
        CHECK(run(chunks) == whole);
    }
}

TEST_CASE("SseParser: max_event bounds every line and every event's data") {
    Session session(8);

    SUBCASE("a line of exactly max_event bytes may wait") {
        CHECK(session.feed("data: ab"));
        CHECK(session.parser.buffered() == 8);
        CHECK(session.feed("\n\n"));
        CHECK(session.got == Transcript{message("ab")});
    }
    SUBCASE("one byte more fails") {
        CHECK(session.feed("data: ab"));
        CHECK_FALSE(session.feed("c"));
        CHECK(session.parser.buffered() == 0);
    }
    SUBCASE("a whole line longer than max_event fails too, so the split does not matter") {
        CHECK_FALSE(session.feed("data: a\n\ndata: abc\n\n"));
        CHECK(session.got == Transcript{message("a")}); // what came before still counts
    }
    SUBCASE("a comment or unknown field longer than max_event fails") {
        CHECK_FALSE(session.feed(": 12345678\n"));
        Session other(8);
        CHECK_FALSE(other.feed("foo: bar1\n"));
    }
    SUBCASE("the data buffer may hold exactly max_event bytes") {
        CHECK(session.feed("data:abc\ndata:def\n\n")); // "abc\ndef\n"
        CHECK(session.got == Transcript{message("abc\ndef")});
    }
    SUBCASE("data that grows past max_event over several lines fails") {
        CHECK(session.feed("data:abc\ndata:def\n"));
        CHECK_FALSE(session.feed("data\n\n"));
        CHECK(session.got.empty());
    }
    SUBCASE("many bare data lines are bounded as well") {
        CHECK(session.feed("data\ndata\ndata\ndata\ndata\ndata\ndata\ndata\n"));
        CHECK_FALSE(session.feed("data\n"));
    }
    SUBCASE("after failing the parser is spent") {
        CHECK_FALSE(session.feed("data: toolong\n"));
        CHECK_FALSE(session.feed("data: a\n\n"));
        CHECK_FALSE(session.feed(""));
        session.parser.finish();
        CHECK(session.got.empty());
    }
    SUBCASE("reset_for_reconnect() makes it usable again") {
        CHECK_FALSE(session.feed("data: toolong\n"));
        session.parser.reset_for_reconnect();
        CHECK(session.feed("data: a\n\n"));
        CHECK(session.got == Transcript{message("a")});
    }
}

TEST_CASE("SseParser: where the bound trips does not depend on the split") {
    for (std::size_t max : {std::size_t{4}, std::size_t{8}, std::size_t{12}, std::size_t{20}}) {
        CAPTURE(max);
        const Outcome whole = run({k_stream}, max);
        CHECK(whole.spent);
        for (std::size_t i = 0; i <= k_stream.size(); ++i) {
            CAPTURE(i);
            CHECK(run({k_stream.substr(0, i), k_stream.substr(i)}, max) == whole);
        }
        CHECK(run(bytes_of(k_stream), max) == whole);
    }
}

TEST_CASE("SseParser: the default bound") {
    CHECK(SseParser::k_default_max_event == 16u * 1024 * 1024);
}

TEST_SUITE_END();
