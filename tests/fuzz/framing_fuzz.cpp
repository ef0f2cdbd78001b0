// libFuzzer target for proto/framing.hpp. The first byte picks a split position; the rest is
// the stream. For every framing, feeding the stream in two pieces must give the same messages
// as feeding it whole (raw: the same bytes), and a small max_message must fail cleanly.
#include "fuzz_check.hpp"
#include "proto/framing.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using rtx::proto::Framer;
using rtx::proto::Framing;
using Messages = std::vector<std::string>;

using rtx::fuzz::check;

Messages run(Framing framing, const std::vector<std::string_view>& chunks) {
    Framer framer(framing);
    Messages out;
    auto emit = [&](std::string_view m) {
        out.emplace_back(m);
    };
    for (std::string_view chunk : chunks) {
        check(framer.feed(chunk, emit));
    }
    framer.finish(emit);
    check(framer.buffered() == 0);
    return out;
}

std::string join(const Messages& messages, std::string_view delimiter) {
    std::string out;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (i != 0) {
            out.append(delimiter);
        }
        out.append(messages[i]);
    }
    return out;
}

void check_delimited(Framing framing, std::string_view input, std::size_t split) {
    const char delimiter = framing == Framing::lines ? '\n' : '\0';
    Messages whole = run(framing, {input});
    check(run(framing, {input.substr(0, split), input.substr(split)}) == whole);
    if (input.size() <= 512) {
        std::vector<std::string_view> bytes;
        for (std::size_t i = 0; i < input.size(); ++i) {
            bytes.push_back(input.substr(i, 1));
        }
        check(run(framing, bytes) == whole);
    }
    for (const auto& m : whole) {
        check(m.find(delimiter) == std::string::npos);
    }
    if (framing == Framing::nul) {
        // Nothing is added or removed but the delimiters.
        std::string_view expected = input;
        if (!expected.empty() && expected.back() == '\0') {
            expected.remove_suffix(1);
        }
        check(join(whole, std::string_view("\0", 1)) == expected);
    }
}

void check_raw(std::string_view input, std::size_t split) {
    check(join(run(Framing::raw, {input}), "") == input);
    check(join(run(Framing::raw, {input.substr(0, split), input.substr(split)}), "") == input);
}

// A tiny bound: the Framer either keeps every held message within it or fails for good.
void check_bound(Framing framing, std::string_view input, std::size_t split) {
    const std::size_t max = 8;
    Framer framer(framing, max);
    bool failed = false;
    bool emitted_after_failure = false;
    auto emit = [&](std::string_view) {
        emitted_after_failure = emitted_after_failure || failed;
    };
    for (std::string_view chunk : {input.substr(0, split), input.substr(split)}) {
        if (!framer.feed(chunk, emit)) {
            failed = true;
        }
        check(framer.buffered() <= max);
    }
    check(!failed || framer.buffered() == 0);
    framer.finish(emit);
    check(!emitted_after_failure);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::size_t split = data[0] % (input.size() + 1);
    check_delimited(Framing::lines, input, split);
    check_delimited(Framing::nul, input, split);
    check_raw(input, split);
    check_bound(Framing::lines, input, split);
    check_bound(Framing::nul, input, split);
    return 0;
}
