// Tests for core/encoding.hpp: UTF-8 validation, base64, hex and JSON strings.
#include "core/encoding.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace std::string_view_literals;
using rtx::core::append_base64;
using rtx::core::append_hex;
using rtx::core::append_json_string;
using rtx::core::decode_base64;
using rtx::core::decode_hex;
using rtx::core::is_valid_utf8;

namespace {

std::string base64(std::string_view bytes) {
    std::string out;
    append_base64(out, bytes);
    return out;
}

std::string hex(std::string_view bytes) {
    std::string out;
    append_hex(out, bytes);
    return out;
}

std::string json(std::string_view text) {
    std::string out;
    append_json_string(out, text);
    return out;
}

// Bytes 0, 1, 2, ... n-1 with the high half included (every byte value appears for n=256).
std::string byte_ramp(std::size_t n, unsigned start = 0) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(static_cast<char>((start + i * 37) & 0xFF));
    }
    return out;
}

} // namespace

TEST_CASE("is_valid_utf8: well-formed input") {
    SUBCASE("empty") {
        CHECK(is_valid_utf8(""));
    }
    SUBCASE("ASCII") {
        CHECK(is_valid_utf8("hello, world\n"));
    }
    SUBCASE("NUL is ASCII") {
        CHECK(is_valid_utf8("a\0b"sv));
    }
    SUBCASE("DEL") {
        CHECK(is_valid_utf8("\x7f"));
    }
    SUBCASE("2-byte: U+00E9") {
        CHECK(is_valid_utf8("caf\xc3\xa9"));
    }
    SUBCASE("2-byte: lowest U+0080") {
        CHECK(is_valid_utf8("\xc2\x80"));
    }
    SUBCASE("2-byte: highest U+07FF") {
        CHECK(is_valid_utf8("\xdf\xbf"));
    }
    SUBCASE("3-byte: U+20AC euro") {
        CHECK(is_valid_utf8("\xe2\x82\xac"));
    }
    SUBCASE("3-byte: lowest U+0800") {
        CHECK(is_valid_utf8("\xe0\xa0\x80"));
    }
    SUBCASE("3-byte: just below the surrogates U+D7FF") {
        CHECK(is_valid_utf8("\xed\x9f\xbf"));
    }
    SUBCASE("3-byte: just above the surrogates U+E000") {
        CHECK(is_valid_utf8("\xee\x80\x80"));
    }
    SUBCASE("3-byte: U+FFFF") {
        CHECK(is_valid_utf8("\xef\xbf\xbf"));
    }
    SUBCASE("4-byte: U+1F600 emoji") {
        CHECK(is_valid_utf8("\xf0\x9f\x98\x80"));
    }
    SUBCASE("4-byte: lowest U+10000") {
        CHECK(is_valid_utf8("\xf0\x90\x80\x80"));
    }
    SUBCASE("4-byte: highest U+10FFFF") {
        CHECK(is_valid_utf8("\xf4\x8f\xbf\xbf"));
    }
    SUBCASE("mixed") {
        CHECK(is_valid_utf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"));
    }
}

TEST_CASE("is_valid_utf8: malformed input") {
    SUBCASE("lone continuation byte") {
        CHECK_FALSE(is_valid_utf8("\x80"));
    }
    SUBCASE("continuation byte after ASCII") {
        CHECK_FALSE(is_valid_utf8("a\xbf"));
    }
    SUBCASE("overlong 2-byte '/' (C0 AF)") {
        CHECK_FALSE(is_valid_utf8("\xc0\xaf"));
    }
    SUBCASE("overlong 2-byte NUL (C0 80)") {
        CHECK_FALSE(is_valid_utf8("\xc0\x80"));
    }
    SUBCASE("overlong 2-byte C1 BF") {
        CHECK_FALSE(is_valid_utf8("\xc1\xbf"));
    }
    SUBCASE("overlong 3-byte") {
        CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));
    }
    SUBCASE("overlong 3-byte U+07FF") {
        CHECK_FALSE(is_valid_utf8("\xe0\x9f\xbf"));
    }
    SUBCASE("overlong 4-byte") {
        CHECK_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));
    }
    SUBCASE("overlong 4-byte U+FFFF") {
        CHECK_FALSE(is_valid_utf8("\xf0\x8f\xbf\xbf"));
    }
    SUBCASE("high surrogate U+D800") {
        CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));
    }
    SUBCASE("low surrogate U+DFFF") {
        CHECK_FALSE(is_valid_utf8("\xed\xbf\xbf"));
    }
    SUBCASE("CESU-8 surrogate pair") {
        CHECK_FALSE(is_valid_utf8("\xed\xa0\xbd\xed\xb8\x80"));
    }
    SUBCASE("U+110000") {
        CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));
    }
    SUBCASE("F5 lead byte") {
        CHECK_FALSE(is_valid_utf8("\xf5\x80\x80\x80"));
    }
    SUBCASE("F7 lead byte") {
        CHECK_FALSE(is_valid_utf8("\xf7\xbf\xbf\xbf"));
    }
    SUBCASE("F8 five-byte lead") {
        CHECK_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));
    }
    SUBCASE("FE and FF") {
        CHECK_FALSE(is_valid_utf8("\xfe"));
        CHECK_FALSE(is_valid_utf8("\xff"));
    }
    SUBCASE("truncated 2-byte") {
        CHECK_FALSE(is_valid_utf8("\xc3"));
    }
    SUBCASE("truncated 3-byte") {
        CHECK_FALSE(is_valid_utf8("\xe2\x82"));
    }
    SUBCASE("truncated 4-byte") {
        CHECK_FALSE(is_valid_utf8("\xf0\x9f\x98"));
    }
    SUBCASE("truncated at the end of longer text") {
        CHECK_FALSE(is_valid_utf8("abc\xe2\x82"));
    }
    SUBCASE("ASCII where a continuation byte should be") {
        CHECK_FALSE(is_valid_utf8("\xc3("));
    }
    SUBCASE("lead byte where a continuation byte should be") {
        CHECK_FALSE(is_valid_utf8("\xe2\xc3\xa9"));
    }
    SUBCASE("every truncation of a valid 4-byte sequence") {
        const std::string_view emoji = "\xf0\x9f\x98\x80";
        for (std::size_t n = 1; n < emoji.size(); ++n) {
            INFO("prefix length ", n);
            CHECK_FALSE(is_valid_utf8(emoji.substr(0, n)));
        }
    }
}

TEST_CASE("base64: RFC 4648 section 10 test vectors") {
    const std::pair<std::string_view, std::string_view> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (auto [plain, encoded] : vectors) {
        INFO("plain: '", std::string(plain), "'");
        CHECK(base64(plain) == encoded);
        auto decoded = decode_base64(encoded);
        REQUIRE(decoded.has_value());
        CHECK(*decoded == plain);
    }
}

TEST_CASE("base64: the whole alphabet, binary bytes and appending") {
    SUBCASE("'+' and '/'") {
        CHECK(base64("\xfb\xff") == "+/8=");
        CHECK(decode_base64("+/8=") == std::string("\xfb\xff"));
    }
    SUBCASE("NUL bytes") {
        CHECK(base64("\0\0\0"sv) == "AAAA");
    }
    SUBCASE("high bytes") {
        CHECK(base64("\xff\xfe\x00"sv) == "//4A");
    }
    SUBCASE("appends to what is already there") {
        std::string out = "payload=";
        append_base64(out, "foo");
        CHECK(out == "payload=Zm9v");
    }
}

TEST_CASE("base64: round trip for lengths 0 to 10") {
    for (std::size_t n = 0; n <= 10; ++n) {
        for (unsigned start : {0u, 128u, 255u}) {
            std::string bytes = byte_ramp(n, start);
            std::string encoded = base64(bytes);
            INFO("length ", n, ", encoded: ", encoded);
            CHECK(encoded.size() == (n + 2) / 3 * 4);
            auto decoded = decode_base64(encoded);
            REQUIRE(decoded.has_value());
            CHECK(*decoded == bytes);
        }
    }
}

TEST_CASE("decode_base64: padding is optional") {
    CHECK(decode_base64("Zg") == std::string("f"));
    CHECK(decode_base64("Zm8") == std::string("fo"));
    CHECK(decode_base64("Zm9vYg") == std::string("foob"));
}

TEST_CASE("decode_base64: malformed input") {
    SUBCASE("one character too many") {
        CHECK_FALSE(decode_base64("Zm9vY").has_value());
    }
    SUBCASE("single character") {
        CHECK_FALSE(decode_base64("Z").has_value());
    }
    SUBCASE("single character with padding") {
        CHECK_FALSE(decode_base64("Z===").has_value());
    }
    SUBCASE("character outside the alphabet") {
        CHECK_FALSE(decode_base64("Zm9v!A==").has_value());
    }
    SUBCASE("URL-safe alphabet") {
        CHECK_FALSE(decode_base64("-_8=").has_value());
    }
    SUBCASE("padding in the middle") {
        CHECK_FALSE(decode_base64("Zg==Zg==").has_value());
    }
    SUBCASE("whitespace") {
        CHECK_FALSE(decode_base64("Zm9v Zm9v").has_value());
        CHECK_FALSE(decode_base64("Zm9v\n").has_value());
    }
    SUBCASE("NUL byte") {
        CHECK_FALSE(decode_base64("Zm\0v"sv).has_value());
    }
    SUBCASE("high byte") {
        CHECK_FALSE(decode_base64("Zm\xc3\xa9").has_value());
    }
}

TEST_CASE("hex: encoding") {
    CHECK(hex("") == "");
    CHECK(hex("\x00\x01\x7f\x80\xff"sv) == "00017f80ff");
    CHECK(hex("AZ") == "415a");
    std::string out = "0x";
    append_hex(out, "\xab");
    CHECK(out == "0xab");
}

TEST_CASE("hex: round trip over every byte value") {
    std::string all;
    for (int b = 0; b < 256; ++b) {
        all.push_back(static_cast<char>(b));
    }
    std::string encoded = hex(all);
    CHECK(encoded.size() == 512);
    CHECK(decode_hex(encoded) == all);
}

TEST_CASE("decode_hex: accepted forms") {
    SUBCASE("empty") {
        CHECK(decode_hex("") == std::string());
    }
    SUBCASE("lower case") {
        CHECK(decode_hex("deadbeef") == std::string("\xde\xad\xbe\xef"));
    }
    SUBCASE("upper case") {
        CHECK(decode_hex("DEADBEEF") == std::string("\xde\xad\xbe\xef"));
    }
    SUBCASE("mixed case") {
        CHECK(decode_hex("DeAdBeEf") == std::string("\xde\xad\xbe\xef"));
    }
    SUBCASE("whitespace between bytes") {
        CHECK(decode_hex("de ad\tbe\nef") == std::string("\xde\xad\xbe\xef"));
        CHECK(decode_hex("  00  ") == std::string("\0", 1));
    }
    SUBCASE("only whitespace") {
        CHECK(decode_hex(" \n ") == std::string());
    }
}

TEST_CASE("decode_hex: malformed input") {
    SUBCASE("odd number of digits") {
        CHECK_FALSE(decode_hex("abc").has_value());
    }
    SUBCASE("single digit") {
        CHECK_FALSE(decode_hex("a").has_value());
    }
    SUBCASE("whitespace inside a byte") {
        CHECK_FALSE(decode_hex("d e").has_value());
    }
    SUBCASE("non-hex letter") {
        CHECK_FALSE(decode_hex("zz").has_value());
    }
    SUBCASE("'g' just past 'f'") {
        CHECK_FALSE(decode_hex("0g").has_value());
    }
    SUBCASE("0x prefix") {
        CHECK_FALSE(decode_hex("0x41").has_value());
    }
    SUBCASE("NUL byte") {
        CHECK_FALSE(decode_hex("4\0"sv).has_value());
    }
    SUBCASE("high byte") {
        CHECK_FALSE(decode_hex("4\xc1").has_value());
    }
}

TEST_CASE("append_json_string: escapes (RFC 8259 section 7)") {
    SUBCASE("plain text is quoted") {
        CHECK(json("hello") == "\"hello\"");
    }
    SUBCASE("empty") {
        CHECK(json("") == "\"\"");
    }
    SUBCASE("quote") {
        CHECK(json("say \"hi\"") == R"("say \"hi\"")");
    }
    SUBCASE("backslash") {
        CHECK(json("a\\b") == R"("a\\b")");
    }
    SUBCASE("newline") {
        CHECK(json("a\nb") == R"("a\nb")");
    }
    SUBCASE("carriage return and tab") {
        CHECK(json("\r\t") == R"("\r\t")");
    }
    SUBCASE("NUL") {
        CHECK(json("a\0b"sv) == R"("a\u0000b")");
    }
    SUBCASE("other control characters as \\u00XX") {
        CHECK(json("\x01") == R"("\u0001")");
        CHECK(json("\x08\x0c") == R"("\u0008\u000c")");
        CHECK(json("\x1b[0m") == R"("\u001b[0m")");
        CHECK(json("\x1f") == R"("\u001f")");
    }
    SUBCASE("space and DEL are not escaped") {
        CHECK(json(" \x7f") == "\" \x7f\"");
    }
    SUBCASE("slash is not escaped") {
        CHECK(json("a/b") == R"("a/b")");
    }
    SUBCASE("UTF-8 passes through") {
        CHECK(json("caf\xc3\xa9 \xf0\x9f\x98\x80") == "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    }
    SUBCASE("appends to what is already there") {
        std::string out = "{\"k\":";
        append_json_string(out, "v");
        CHECK(out == R"({"k":"v")");
    }
}

TEST_CASE("decode_base64: only the canonical form is accepted") {
    SUBCASE("more padding than needed") {
        CHECK_FALSE(decode_base64("Zg=====").has_value());
        CHECK_FALSE(decode_base64("Zm8==").has_value());
    }
    SUBCASE("padding that does not complete a quantum") {
        CHECK_FALSE(decode_base64("Zg=").has_value());
    }
    SUBCASE("non-zero leftover bits") {
        CHECK_FALSE(decode_base64("Zh==").has_value());
        CHECK_FALSE(decode_base64("Zm9=").has_value());
    }
    SUBCASE("canonical forms still decode") {
        CHECK(decode_base64("Zg==") == std::string("f"));
        CHECK(decode_base64("Zm8=") == std::string("fo"));
    }
}

TEST_CASE("escape_html: the five characters HTML gives meaning to, and nothing else") {
    CHECK(rtx::core::escape_html("") == "");
    CHECK(rtx::core::escape_html("tcp://127.0.0.1:7070") == "tcp://127.0.0.1:7070");
    CHECK(rtx::core::escape_html(R"(<a href="x">'&'</a>)") ==
          "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    CHECK(rtx::core::escape_html("caf\xc3\xa9") == "caf\xc3\xa9");
}

TEST_CASE("one_line_excerpt: an error body as one short line") {
    using rtx::core::one_line_excerpt;
    SUBCASE("line breaks, tabs and runs of spaces become one space; ends trimmed") {
        CHECK(one_line_excerpt("\n  topic is private\r\n\task   an admin\n", 200) ==
              "topic is private ask an admin");
    }
    SUBCASE("short enough: unchanged") {
        CHECK(one_line_excerpt("not found", 9) == "not found");
        CHECK(one_line_excerpt("", 10).empty());
    }
    SUBCASE("cut at max_bytes with an ellipsis") {
        CHECK(one_line_excerpt("abcdefghij", 4) == "abcd...");
        CHECK(one_line_excerpt("ab cd ef", 5) == "ab cd...");
    }
    SUBCASE("trailing whitespace past the cut is not a cut") {
        CHECK(one_line_excerpt("abcd\n\n\n", 4) == "abcd");
    }
    SUBCASE("never inside a UTF-8 character") {
        CHECK(one_line_excerpt("caf\xc3\xa9!", 4) == "caf...");
        CHECK(one_line_excerpt("caf\xc3\xa9!", 5) == "caf\xc3\xa9...");
    }
    SUBCASE("bytes that are not UTF-8 are shown as \\xNN, control bytes as spaces") {
        CHECK(one_line_excerpt("a\xff"
                               "b\x01"
                               "c",
                               40) == "a\\xffb c");
    }
}
