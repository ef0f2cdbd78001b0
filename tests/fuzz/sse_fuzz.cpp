// libFuzzer target for proto/sse_parser.hpp. The first byte picks a split position; the rest is
// the stream. Feeding it in two pieces, and byte by byte, must give the same events, retries,
// comments and last event ID as feeding it whole, with the default bound and with a tiny one
// (which must trip at the same place); every reported string must be valid UTF-8.
#include "fuzz_check.hpp"
#include "proto/sse_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using rtx::proto::SseEvent;
using rtx::proto::SseParser;

using rtx::fuzz::check;
using rtx::fuzz::is_utf8;

struct Outcome {
    std::vector<std::string> got;
    bool spent = false;
    std::string last_event_id;

    bool operator==(const Outcome&) const = default;
};

Outcome run(const std::vector<std::string_view>& chunks, std::size_t max_event) {
    SseParser parser(max_event);
    Outcome out;
    auto on_event = [&](const SseEvent& e) {
        check(is_utf8(e.type) && is_utf8(e.data) && is_utf8(e.last_event_id));
        check(!e.type.empty());
        check(e.data.size() < max_event);
        out.got.push_back("event " + std::string(e.type) + '\0' + std::string(e.data) + '\0' +
                          std::string(e.last_event_id));
    };
    auto on_retry = [&](std::uint64_t ms) {
        out.got.push_back("retry " + std::to_string(ms));
    };
    auto on_comment = [&](std::string_view text) {
        check(is_utf8(text));
        out.got.push_back("comment " + std::string(text));
    };
    for (std::string_view chunk : chunks) {
        if (!parser.feed(chunk, on_event, on_retry, on_comment)) {
            out.spent = true;
            check(parser.buffered() == 0);
            break;
        }
    }
    parser.finish();
    check(parser.buffered() == 0);
    out.last_event_id = parser.last_event_id();
    check(is_utf8(out.last_event_id));
    return out;
}

void check_splits(std::string_view input, std::size_t split, std::size_t max_event) {
    Outcome whole = run({input}, max_event);
    check(run({input.substr(0, split), input.substr(split)}, max_event) == whole);
    if (input.size() <= 512) {
        std::vector<std::string_view> bytes;
        for (std::size_t i = 0; i < input.size(); ++i) {
            bytes.push_back(input.substr(i, 1));
        }
        check(run(bytes, max_event) == whole);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::size_t split = data[0] % (input.size() + 1);
    check_splits(input, split, SseParser::k_default_max_event);
    check_splits(input, split, 8);
    return 0;
}
