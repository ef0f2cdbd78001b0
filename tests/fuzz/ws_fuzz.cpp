// libFuzzer target for proto/ws_codec.hpp's WsReader: what a WebSocket server sends to rtx ws,
// or (masked) what a client sends to rtx serve. The first byte picks the session
// (permessage-deflate or not, the peer's context takeover, a small or the default
// --max-message, the server's masked reader); the second a split position; the rest is the byte
// stream. Feeding it whole, in two pieces and byte by byte must give the same events and the
// same violation; every text message and close reason must be valid UTF-8, no message may
// pass the limit, nothing may follow the close frame, and a violation's code is one RFC 6455
// section 7.4.1 gives for a protocol error (1002, 1007, 1009).
#include "fuzz_check.hpp"
#include "proto/ws_codec.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using rtx::fuzz::check;
using rtx::fuzz::is_utf8;
using rtx::proto::WsReader;
using rtx::proto::WsReaderOptions;
using rtx::proto::WsViolation;

struct Outcome {
    std::vector<std::string> events;
    std::optional<int> violation; ///< The close code of the violation, if there was one.

    bool operator==(const Outcome&) const = default;
};

class Recorder final : public rtx::proto::WsReaderEvents {
public:
    Recorder(Outcome& out, std::size_t max_message)
        : m_out(out)
        , m_max_message(max_message) {}

    void on_ws_message(bool binary, std::string_view payload) override {
        check(!m_closed);
        check(payload.size() <= m_max_message);
        check(binary || is_utf8(payload));
        m_out.events.push_back((binary ? "binary " : "text ") + std::string(payload));
    }
    void on_ws_ping(std::string_view payload) override {
        check(!m_closed && payload.size() <= 125);
        m_out.events.push_back("ping " + std::string(payload));
    }
    void on_ws_pong(std::string_view payload) override {
        check(!m_closed && payload.size() <= 125);
        m_out.events.push_back("pong " + std::string(payload));
    }
    void on_ws_close(std::optional<int> code, std::string_view reason) override {
        check(!m_closed);
        check(is_utf8(reason));
        check(!code || rtx::proto::ws_close_code_allowed_on_wire(*code));
        check(code || reason.empty());
        m_closed = true;
        m_out.events.push_back("close " + std::to_string(code.value_or(1005)) + " " +
                               std::string(reason));
    }

private:
    Outcome& m_out;
    std::size_t m_max_message;
    bool m_closed = false;
};

Outcome run(const std::vector<std::string_view>& chunks, const WsReaderOptions& options) {
    WsReader reader(options);
    Outcome out;
    Recorder recorder(out, options.max_message);
    for (std::string_view chunk : chunks) {
        if (std::optional<WsViolation> violation = reader.feed(chunk, recorder)) {
            const int code = violation->close_code;
            check(code == 1002 || code == 1007 || code == 1009);
            check(!violation->what.empty());
            out.violation = code;
            break;
        }
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    WsReaderOptions options;
    options.deflate = (data[0] & 1) != 0;
    options.peer_no_context_takeover = (data[0] & 2) != 0;
    if ((data[0] & 4) != 0) {
        options.max_message = 64; // small enough that the fuzzer reaches the 1009 path
    }
    options.masked = (data[0] & 8) != 0;
    std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);
    const std::size_t split = data[1] % (input.size() + 1);

    const Outcome whole = run({input}, options);
    check(run({input.substr(0, split), input.substr(split)}, options) == whole);
    if (input.size() <= 512) {
        std::vector<std::string_view> bytes;
        for (std::size_t i = 0; i < input.size(); ++i) {
            bytes.push_back(input.substr(i, 1));
        }
        check(run(bytes, options) == whole);
    }
    return 0;
}
