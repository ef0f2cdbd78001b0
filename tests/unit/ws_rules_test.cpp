// serve/ws/ws_rules: the origin check of rtx serve's upgrades; proto/ws_codec: the frame
// reader and writer `rtx ws` and `rtx serve` use after the handshake.
#include "proto/ws_codec.hpp"
#include "serve/ws/ws_rules.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace ws = rtx::serve::ws;

namespace {

std::string close_payload(unsigned code, std::string reason = "") {
    std::string out;
    out.push_back(static_cast<char>(code >> 8));
    out.push_back(static_cast<char>(code & 0xff));
    return out + reason;
}

} // namespace

TEST_CASE("close codes a peer may send") {
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                     3999, 4000, 4999}) {
        CHECK(rtx::proto::ws_close_code_allowed_on_wire(code));
    }
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        CHECK_FALSE(rtx::proto::ws_close_code_allowed_on_wire(code));
    }
}

TEST_CASE("origin check") {
    const std::vector<std::string> none;
    CHECK(ws::origin_allowed(none, ""));
    CHECK(ws::origin_allowed(none, "http://anything.example"));
    const std::vector<std::string> two = {"http://good.example", "https://also.example:8443"};
    CHECK(ws::origin_allowed(two, "http://good.example"));
    CHECK(ws::origin_allowed(two, "HTTP://Good.Example"));
    CHECK(ws::origin_allowed(two, "https://also.example:8443"));
    CHECK_FALSE(ws::origin_allowed(two, ""));
    CHECK_FALSE(ws::origin_allowed(two, "null"));
    CHECK_FALSE(ws::origin_allowed(two, "http://good.example:80"));
    CHECK_FALSE(ws::origin_allowed(two, "http://good.example.evil"));
    CHECK_FALSE(ws::origin_allowed(two, "https://good.example"));
}

// --- proto/ws_codec --------------------------------------------------------------------------

namespace {

namespace op = rtx::proto::ws_opcode;

/// What a WsReader reported, one string per event in order.
struct Recorder final : rtx::proto::WsReaderEvents {
    std::vector<std::string> events;
    void on_ws_message(bool binary, std::string_view payload) override {
        events.push_back((binary ? "binary:" : "text:") + std::string(payload));
    }
    void on_ws_ping(std::string_view payload) override {
        events.push_back("ping:" + std::string(payload));
    }
    void on_ws_pong(std::string_view payload) override {
        events.push_back("pong:" + std::string(payload));
    }
    void on_ws_close(std::optional<int> code, std::string_view reason) override {
        events.push_back("close:" + (code ? std::to_string(*code) : std::string("none")) + ":" +
                         std::string(reason));
    }
};

/// An unmasked frame as a server sends it.
std::string frame(unsigned first, std::string_view payload) {
    std::string out(1, static_cast<char>(first));
    if (payload.size() < 126) {
        out.push_back(static_cast<char>(payload.size()));
    } else {
        out.push_back(126);
        out.push_back(static_cast<char>(payload.size() >> 8));
        out.push_back(static_cast<char>(payload.size() & 0xff));
    }
    return out + std::string(payload);
}

/// Feeds `bytes` whole and then one byte at a time: both must give the same result.
std::pair<std::vector<std::string>, int> read_all(const std::string& bytes,
                                                  rtx::proto::WsReaderOptions options = {}) {
    std::pair<std::vector<std::string>, int> results[2];
    for (int split = 0; split < 2; ++split) {
        rtx::proto::WsReader reader(options);
        Recorder recorder;
        int code = 0;
        if (split == 0) {
            if (auto bad = reader.feed(bytes, recorder)) {
                code = bad->close_code;
            }
        } else {
            for (char byte : bytes) {
                if (auto bad = reader.feed(std::string_view(&byte, 1), recorder)) {
                    code = bad->close_code;
                    break;
                }
            }
        }
        results[split] = {recorder.events, code};
    }
    CHECK(results[0] == results[1]);
    return results[0];
}

} // namespace

TEST_CASE("ws reader: messages, fragments and control frames in order") {
    const auto [events, code] =
        read_all(frame(0x01, "frag1 ") + frame(0x89, "p") + frame(0x80, "frag2") +
                 frame(0x82, std::string(300, 'b')) + frame(0x8A, "q") +
                 frame(0x88, close_payload(1000, "bye")) + frame(0x81, "after close"));
    CHECK(code == 0);
    CHECK(events == std::vector<std::string>{"ping:p", "text:frag1 frag2",
                                             "binary:" + std::string(300, 'b'), "pong:q",
                                             "close:1000:bye"});
}

TEST_CASE("ws reader: protocol errors are 1002") {
    const std::vector<std::string> cases = {
        frame(0x83, "x"),                            // reserved opcode
        frame(0x8B, "x"),                            // reserved control opcode
        frame(0xC1, "x"),                            // RSV1 without deflate
        frame(0xA1, "x"),                            // RSV2
        frame(0x91, "x"),                            // RSV3
        std::string("\x81\x81\x01\x02\x03\x04x", 7), // masked by a server
        frame(0x09, "x"),                            // fragmented ping
        frame(0x89, std::string(126, 'x')),          // ping over 125 bytes
        frame(0x80, "x"),                            // continuation without a start
        frame(0x01, "a") + frame(0x81, "b"),         // new message inside a fragmented one
        frame(0x88, std::string(1, '\x03')),         // one-byte close payload
        frame(0x88, close_payload(1005)),            // a code that must not be sent
        frame(0x88, close_payload(999)),
        std::string("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10), // length top bit
    };
    for (const auto& bytes : cases) {
        CHECK(read_all(bytes).second == 1002);
    }
}

TEST_CASE("ws reader: invalid UTF-8 is 1007 at the bad byte") {
    for (const std::string bad : {"\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                                  "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff"}) {
        CHECK(read_all(frame(0x81, bad)).second == 1007);
        // Inside a fragment that is never finished: refused all the same.
        CHECK(read_all(frame(0x01, "ok " + bad)).second == 1007);
    }
    CHECK(read_all(frame(0x81, "ab\xc3")).second == 1007); // ends inside a character
    CHECK(read_all(frame(0x88, close_payload(1000, "\xff"))).second == 1007);
    // Valid text split inside characters across fragments.
    const auto [events, code] =
        read_all(frame(0x01, "\xce") + frame(0x00, "\xba\xf0\x9f") + frame(0x80, "\x98\x80"));
    CHECK(code == 0);
    CHECK(events == std::vector<std::string>{"text:\xce\xba\xf0\x9f\x98\x80"});
}

TEST_CASE("ws reader: a message over the limit is refused at its header") {
    rtx::proto::WsReaderOptions options;
    options.max_message = 1024;
    // 2^62 announced, no payload: 1009 from the header alone.
    CHECK(read_all(std::string("\x82\x7f\x40\x00\x00\x00\x00\x00\x00\x00", 10), options).second ==
          1009);
    CHECK(read_all(frame(0x02, std::string(600, 'x')) + std::string("\x80\x7e\x02\x58", 4), options)
              .second == 1009);
    CHECK(read_all(frame(0x82, std::string(1024, 'x')), options).second == 0);
}

TEST_CASE("ws reader: which violation depends on the bytes, not on how they were cut") {
    rtx::proto::WsReaderOptions options;
    options.deflate = true;
    options.peer_no_context_takeover = true;
    options.max_message = 64;
    // Found by fuzz_ws: a compressed text message that inflates to invalid UTF-8 and past the
    // limit. Inflated whole, the size was checked first (1009); inflated a byte at a time,
    // the bad byte was seen first (1007). The bytes within the limit are now checked first,
    // so both give 1007 (read_all checks that the two agree).
    CHECK(read_all(std::string("\xc1\x06\xea\xa8\xfe\x3f\x00\x00", 8), options).second == 1007);
    // Valid text past the limit is still 1009 at the byte that crosses it.
    rtx::proto::WsDeflater deflater(15, true);
    CHECK(read_all(frame(0xC1, deflater.compress(std::string(65, 'a'))), options).second == 1009);
}

TEST_CASE("ws writer and deflate: a masked frame, and a compressed message read back") {
    std::string out;
    rtx::proto::append_ws_frame(out, op::text, "Hello", true, false, 0x37fa213d);
    // RFC 6455 section 5.7's example: a single-frame masked text message.
    CHECK(out == std::string("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11));

    rtx::proto::WsDeflater deflater(15, false);
    rtx::proto::WsReaderOptions options;
    options.deflate = true;
    rtx::proto::WsReader reader(options);
    Recorder recorder;
    for (int i = 0; i < 3; ++i) { // context takeover: later messages refer to earlier ones
        const std::string text = "compressible compressible compressible " + std::to_string(i);
        std::string_view compressed = deflater.compress(text);
        CHECK(!reader.feed(frame(0xC1, compressed), recorder));
        CHECK(recorder.events.back() == "text:" + text);
    }
}

TEST_CASE("ws reader, server side: masked frames are unmasked, unmasked ones are 1002") {
    rtx::proto::WsReaderOptions options;
    options.masked = true;
    // RFC 6455 section 5.7's masked "Hello", then a masked ping split in two frames' worth of
    // bytes, and a 300-byte masked binary message (the 16-bit length form).
    std::string bytes("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
    rtx::proto::append_ws_frame(bytes, op::ping, "are you there", true, false, 0x01020304);
    const std::string big(300, 'b');
    rtx::proto::append_ws_frame(bytes, op::binary, big, true, false, 0xa5a55a5a);
    const auto [events, code] = read_all(bytes, options);
    CHECK(code == 0);
    CHECK(events == std::vector<std::string>{"text:Hello", "ping:are you there", "binary:" + big});
    CHECK(read_all(frame(0x81, "unmasked"), options).second == 1002);
    // Invalid UTF-8 is found after unmasking.
    std::string bad;
    rtx::proto::append_ws_frame(bad, op::text, "ok \xed\xa0\x80", true, false, 0xdeadbeef);
    CHECK(read_all(bad, options).second == 1007);
}

TEST_CASE("ws server frame header: the three length forms, unmasked") {
    std::string out;
    rtx::proto::append_ws_server_frame_header(out, op::text, 5, true, false);
    CHECK(out == std::string("\x81\x05", 2));
    out.clear();
    rtx::proto::append_ws_server_frame_header(out, op::binary, 300, true, true);
    CHECK(out == std::string("\xc2\x7e\x01\x2c", 4));
    out.clear();
    rtx::proto::append_ws_server_frame_header(out, op::binary, 70000, false, false);
    CHECK(out == std::string("\x02\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10));
}
