// libFuzzer target for core/encoding.hpp: base64 and hex round trips, decoders that accept
// only what they can re-encode, and is_valid_utf8 against an independent table-driven check.
#include "core/encoding.hpp"
#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace rtx::core;

using rtx::fuzz::check;

// The well-formed byte sequences of the Unicode Standard, table 3-7, written as byte ranges
// (a different algorithm from the one under test, which decodes code points).
bool reference_utf8(std::string_view bytes) {
    struct Range {
        unsigned char lo, hi;
    };
    struct Row {
        int length;
        Range r[4];
    };
    static constexpr Row k_rows[] = {
        {1, {{0x00, 0x7F}}},
        {2, {{0xC2, 0xDF}, {0x80, 0xBF}}},
        {3, {{0xE0, 0xE0}, {0xA0, 0xBF}, {0x80, 0xBF}}},
        {3, {{0xE1, 0xEC}, {0x80, 0xBF}, {0x80, 0xBF}}},
        {3, {{0xED, 0xED}, {0x80, 0x9F}, {0x80, 0xBF}}},
        {3, {{0xEE, 0xEF}, {0x80, 0xBF}, {0x80, 0xBF}}},
        {4, {{0xF0, 0xF0}, {0x90, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}}},
        {4, {{0xF1, 0xF3}, {0x80, 0xBF}, {0x80, 0xBF}, {0x80, 0xBF}}},
        {4, {{0xF4, 0xF4}, {0x80, 0x8F}, {0x80, 0xBF}, {0x80, 0xBF}}},
    };
    std::size_t i = 0;
    while (i < bytes.size()) {
        bool matched = false;
        for (const Row& row : k_rows) {
            auto n = static_cast<std::size_t>(row.length);
            if (i + n > bytes.size()) {
                continue;
            }
            bool ok = true;
            for (std::size_t k = 0; k < n && ok; ++k) {
                auto b = static_cast<unsigned char>(bytes[i + k]);
                ok = b >= row.r[k].lo && b <= row.r[k].hi;
            }
            if (ok) {
                i += n;
                matched = true;
                break;
            }
        }
        if (!matched) {
            return false;
        }
    }
    return true;
}

void check_base64(std::string_view bytes) {
    std::string encoded;
    append_base64(encoded, bytes);
    check(encoded.size() == (bytes.size() + 2) / 3 * 4);
    check(decode_base64(encoded) == std::string(bytes));
    std::string unpadded = encoded.substr(0, encoded.find('='));
    check(decode_base64(unpadded) == std::string(bytes));

    // Whatever the decoder accepts must survive encode + decode unchanged.
    if (auto decoded = decode_base64(bytes)) {
        std::string again;
        append_base64(again, *decoded);
        check(decode_base64(again) == *decoded);
    }
}

void check_hex(std::string_view bytes) {
    std::string encoded;
    append_hex(encoded, bytes);
    check(encoded.size() == bytes.size() * 2);
    check(decode_hex(encoded) == std::string(bytes));

    if (auto decoded = decode_hex(bytes)) {
        check(decoded->size() * 2 <= bytes.size());
        std::string again;
        append_hex(again, *decoded);
        check(decode_hex(again) == *decoded);
    }
}

void check_utf8_and_json(std::string_view bytes) {
    bool valid = is_valid_utf8(bytes);
    check(valid == reference_utf8(bytes));
    if (!valid) {
        return;
    }
    std::string json;
    append_json_string(json, bytes);
    check(json.size() >= 2 && json.front() == '"' && json.back() == '"');
    check(is_valid_utf8(json));
    for (char c : json) {
        check(static_cast<unsigned char>(c) >= 0x20); // control characters are escaped
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    check_base64(bytes);
    check_hex(bytes);
    check_utf8_and_json(bytes);
    return 0;
}
