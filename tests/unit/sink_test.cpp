// Tests for output/sink.hpp: how received messages reach stdout. Uses a pipe(2) as stdout.
#include "output/sink.hpp"

#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>

using namespace std::string_view_literals;
using rtx::output::Format;
using rtx::output::Record;
using rtx::output::Sink;

namespace {

// A pipe standing in for stdout; the read end is non-blocking so read_all() never waits.
class Pipe {
public:
    Pipe() {
        REQUIRE(::pipe(m_fds) == 0);
        REQUIRE(::fcntl(m_fds[0], F_SETFL, O_NONBLOCK) == 0);
    }
    ~Pipe() {
        close_read();
        ::close(m_fds[1]);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;

    int write_fd() const { return m_fds[1]; }
    void close_read() {
        if (m_fds[0] >= 0) {
            ::close(m_fds[0]);
            m_fds[0] = -1;
        }
    }
    // Everything written so far.
    std::string read_all() {
        std::string out;
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(m_fds[0], buf, sizeof buf);
            if (n <= 0) {
                REQUIRE((n == 0 || errno == EAGAIN));
                return out;
            }
            out.append(buf, static_cast<std::size_t>(n));
        }
    }

private:
    int m_fds[2] = {-1, -1};
};

// Ignores SIGPIPE while alive, as the real binary does (SignalWatcher).
class IgnoreSigpipe {
public:
    IgnoreSigpipe()
        : m_previous(std::signal(SIGPIPE, SIG_IGN)) {}
    ~IgnoreSigpipe() { std::signal(SIGPIPE, m_previous); }
    IgnoreSigpipe(const IgnoreSigpipe&) = delete;
    IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;

private:
    void (*m_previous)(int);
};

Record message(std::string_view payload) {
    Record r;
    r.protocol = "tcp";
    r.connection = 1;
    r.payload = payload;
    return r;
}

Record event(std::string_view name) {
    Record r = message("");
    r.event = name;
    r.lifecycle = true;
    return r;
}

} // namespace

TEST_CASE("Sink text: payload then delimiter") {
    Pipe pipe;
    SUBCASE("default delimiter is LF") {
        Sink sink(Format::text, pipe.write_fd());
        CHECK(sink.format() == Format::text);
        sink.write(message("hello"));
        sink.write(message(""));
        sink.write(message("world"));
        CHECK(sink.flush());
        CHECK(pipe.read_all() == "hello\n\nworld\n");
    }
    SUBCASE("custom delimiter") {
        Sink sink(Format::text, pipe.write_fd(), std::string("\0", 1));
        sink.write(message("a"));
        sink.write(message("b"));
        CHECK(sink.flush());
        CHECK(pipe.read_all() == "a\0b\0"sv);
    }
    SUBCASE("payload bytes are written as they are") {
        Sink sink(Format::text, pipe.write_fd());
        sink.write(message("\xff\x00\r"sv));
        CHECK(sink.flush());
        CHECK(pipe.read_all() == "\xff\x00\r\n"sv);
    }
    SUBCASE("open and close events are not written") {
        Sink sink(Format::text, pipe.write_fd());
        sink.write(event("open"));
        sink.write(message("x"));
        sink.write(event("close"));
        CHECK(sink.flush());
        CHECK(pipe.read_all() == "x\n");
    }
}

TEST_CASE("Sink raw: payload bytes only") {
    Pipe pipe;
    Sink sink(Format::raw, pipe.write_fd());
    sink.write(event("open"));
    sink.write(message("ab"));
    sink.write(message("c\n"));
    sink.write(event("close"));
    CHECK(sink.flush());
    CHECK(pipe.read_all() == "abc\n");
}

TEST_CASE("Sink ndjson: one record per line, events included") {
    Pipe pipe;
    Sink sink(Format::ndjson, pipe.write_fd());
    sink.write(event("open"));
    sink.write(message("hi"));
    sink.write(event("close"));
    CHECK(sink.flush());
    CHECK(pipe.read_all() == R"({"time":"1970-01-01T00:00:00.000000Z","protocol":"tcp",)"
                             R"("connection":1,"event":"open","topic":null,"id":null,)"
                             R"("payload":"","encoding":"utf8","size":0})"
                             "\n"
                             R"({"time":"1970-01-01T00:00:00.000000Z","protocol":"tcp",)"
                             R"("connection":1,"event":"message","topic":null,"id":null,)"
                             R"("payload":"hi","encoding":"utf8","size":2})"
                             "\n"
                             R"({"time":"1970-01-01T00:00:00.000000Z","protocol":"tcp",)"
                             R"("connection":1,"event":"close","topic":null,"id":null,)"
                             R"("payload":"","encoding":"utf8","size":0})"
                             "\n");
}

TEST_CASE("Sink: records wait in memory until flush()") {
    Pipe pipe;
    Sink sink(Format::text, pipe.write_fd());
    sink.write(message("a"));
    sink.write(message("b"));
    CHECK(pipe.read_all().empty());
    CHECK(sink.flush());
    CHECK(pipe.read_all() == "a\nb\n");
    SUBCASE("a second flush writes nothing again") {
        CHECK(sink.flush());
        CHECK(pipe.read_all().empty());
    }
    SUBCASE("writing goes on after a flush") {
        sink.write(message("c"));
        CHECK(sink.flush());
        CHECK(pipe.read_all() == "c\n");
    }
}

TEST_CASE("Sink: messages() counts messages, not events") {
    Pipe pipe;
    for (Format format : {Format::text, Format::raw, Format::ndjson}) {
        Sink sink(format, pipe.write_fd());
        CHECK(sink.messages() == 0);
        sink.write(event("open"));
        sink.write(message("a"));
        sink.write(message("b"));
        sink.write(event("close"));
        CHECK(sink.messages() == 2);
        CHECK(sink.flush());
        CHECK(sink.messages() == 2);
        pipe.read_all();
    }
}

TEST_CASE("Sink: a healthy sink is not broken") {
    Pipe pipe;
    Sink sink(Format::text, pipe.write_fd());
    sink.write(message("a"));
    CHECK(sink.flush());
    CHECK_FALSE(sink.broken());
    CHECK_FALSE(sink.reader_gone());
}

TEST_CASE("Sink: the reader going away (rtx ... | head)") {
    IgnoreSigpipe ignore;
    Pipe pipe;
    Sink sink(Format::text, pipe.write_fd());
    pipe.close_read();
    sink.write(message("a"));
    CHECK_FALSE(sink.flush());
    CHECK(sink.broken());
    CHECK(sink.reader_gone());
    CHECK_FALSE(sink.error().empty());

    SUBCASE("later writes are dropped and flush keeps failing") {
        sink.write(message("b"));
        CHECK(sink.messages() == 1);
        CHECK_FALSE(sink.flush());
        CHECK(sink.reader_gone());
    }
}

TEST_CASE("Sink: a failing fd is broken but not reader_gone") {
    Sink sink(Format::text, -1);
    sink.write(message("a"));
    CHECK_FALSE(sink.flush());
    CHECK(sink.broken());
    CHECK_FALSE(sink.reader_gone());
    CHECK_FALSE(sink.error().empty());
}

TEST_CASE("Sink text: a message with its own event name is data (SSE event types)") {
    Pipe pipe;
    Sink sink(Format::text, pipe.write_fd());
    Record record = message("n1");
    record.event = "update";
    sink.write(record);
    REQUIRE(sink.flush());
    CHECK(pipe.read_all() == "n1\n");
    CHECK(sink.messages() == 1);
}

TEST_CASE("Sink templated: --pick skips what it cannot pick; --join ends with one newline") {
    Pipe pipe;
    auto pick = rtx::output::LineTemplate::pick({"/choices/0/delta/content"});
    REQUIRE(pick.ok());
    SUBCASE("one line per picked message") {
        Sink sink(pick.value(), pipe.write_fd(), "\n");
        sink.write(message(R"({"choices":[{"delta":{"content":"Hel"}}]})"));
        sink.write(message("[DONE]"));
        sink.write(message(R"({"choices":[{"delta":{}}]})"));
        sink.write(message(R"({"choices":[{"delta":{"content":"lo"}}]})"));
        sink.finish();
        REQUIRE(sink.flush());
        CHECK(pipe.read_all() == "Hel\nlo\n");
    }
    SUBCASE("--join: fragments back to back, then the trailer") {
        Sink sink(pick.value(), pipe.write_fd(), "", "\n");
        sink.write(message(R"({"choices":[{"delta":{"content":"Hel"}}]})"));
        sink.write(message(R"({"choices":[{"delta":{"content":"lo"}}]})"));
        sink.finish();
        REQUIRE(sink.flush());
        CHECK(pipe.read_all() == "Hello\n");
    }
    SUBCASE("--join with nothing picked writes nothing") {
        Sink sink(pick.value(), pipe.write_fd(), "", "\n");
        sink.write(message("[DONE]"));
        sink.finish();
        REQUIRE(sink.flush());
        CHECK(pipe.read_all().empty());
    }
}
