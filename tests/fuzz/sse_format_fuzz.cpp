// libFuzzer target for serve/http/http_format.hpp: whatever payload rtx serve publishes, the
// text/event-stream it writes must read back through the client's SseParser as one event
// with the same data (line ends normalised to LF; non-UTF-8 payloads travel as base64).
#include "core/encoding.hpp"
#include "fuzz_check.hpp"
#include "proto/sse_parser.hpp"
#include "serve/http/http_format.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

using rtx::fuzz::check;

std::string normalised(const std::string& payload) {
    std::string out;
    for (std::size_t i = 0; i < payload.size(); ++i) {
        if (payload[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < payload.size() && payload[i + 1] == '\n') {
                ++i;
            }
        } else {
            out.push_back(payload[i]);
        }
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    rtx::serve::HubMessage message;
    message.id = 42;
    message.payload.assign(reinterpret_cast<const char*>(data), size);
    std::string stream;
    rtx::serve::http::append_sse_event(stream, message);

    int events = 0;
    std::string received;
    rtx::proto::SseParser parser;
    check(parser.feed(stream,
                      [&](const rtx::proto::SseEvent& event) {
                          ++events;
                          received.assign(event.data);
                          check(event.last_event_id == "42");
                      },
                      {}));
    check(events == 1);
    if (rtx::core::is_valid_utf8(message.payload)) {
        check(received == normalised(message.payload));
    } else {
        check(rtx::core::decode_base64(received) == message.payload);
    }
    return 0;
}
