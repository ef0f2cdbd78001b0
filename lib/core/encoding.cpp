#include "core/encoding.hpp"

#include <array>
#include <cctype>
#include <cstdint>

#include <fmt/format.h>

namespace rtx::core {

bool is_valid_utf8(std::string_view bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const auto* end = p + bytes.size();
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int extra = 0;
        std::uint32_t min = 0;
        std::uint32_t code = 0;
        if ((c & 0xE0) == 0xC0) {
            extra = 1;
            min = 0x80;
            code = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            min = 0x800;
            code = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            min = 0x10000;
            code = c & 0x07u;
        } else {
            return false;
        }
        if (end - p <= extra) {
            return false;
        }
        for (int i = 1; i <= extra; ++i) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
            code = (code << 6) | (p[i] & 0x3Fu);
        }
        if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
            return false;
        }
        p += extra + 1;
    }
    return true;
}

namespace {
constexpr std::string_view k_base64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view k_base64url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view k_hex = "0123456789abcdef";

int alphabet_value(std::string_view alphabet, char c) {
    auto pos = alphabet.find(c);
    return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

/// The two RFC 4648 encodings differ only in their alphabet and whether they pad.
void append_base64_with(std::string& out, std::string_view bytes, std::string_view alphabet,
                        bool pad) {
    out.reserve(out.size() + (bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto byte = [&](std::size_t k) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
    };
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
        out.push_back(alphabet[v >> 18 & 63]);
        out.push_back(alphabet[v >> 12 & 63]);
        out.push_back(alphabet[v >> 6 & 63]);
        out.push_back(alphabet[v & 63]);
    }
    std::size_t left = bytes.size() - i;
    if (left == 1) {
        std::uint32_t v = byte(i) << 16;
        out.push_back(alphabet[v >> 18 & 63]);
        out.push_back(alphabet[v >> 12 & 63]);
        if (pad) {
            out.append("==");
        }
    } else if (left == 2) {
        std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8;
        out.push_back(alphabet[v >> 18 & 63]);
        out.push_back(alphabet[v >> 12 & 63]);
        out.push_back(alphabet[v >> 6 & 63]);
        if (pad) {
            out.push_back('=');
        }
    }
}

std::optional<std::string> decode_base64_with(std::string_view text, std::string_view alphabet) {
    std::size_t padding = 0;
    while (!text.empty() && text.back() == '=') {
        text.remove_suffix(1);
        ++padding;
    }
    // At most two '=', and with padding the whole text is a multiple of 4 (RFC 4648 s. 4).
    if (text.size() % 4 == 1 || padding > 2 || (padding > 0 && (text.size() + padding) % 4 != 0)) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        int v = alphabet_value(alphabet, c);
        if (v < 0) {
            return std::nullopt;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) {
        return std::nullopt; // leftover bits must be zero (RFC 4648 section 3.5, canonical)
    }
    return out;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}
} // namespace

void append_base64(std::string& out, std::string_view bytes) {
    append_base64_with(out, bytes, k_base64, /*pad=*/true);
}

std::optional<std::string> decode_base64(std::string_view text) {
    return decode_base64_with(text, k_base64);
}

void append_base64url(std::string& out, std::string_view bytes) {
    append_base64_with(out, bytes, k_base64url, /*pad=*/false);
}

std::optional<std::string> decode_base64url(std::string_view text) {
    return decode_base64_with(text, k_base64url);
}

void append_hex(std::string& out, std::string_view bytes) {
    out.reserve(out.size() + bytes.size() * 2);
    for (char c : bytes) {
        auto b = static_cast<unsigned char>(c);
        out.push_back(k_hex[b >> 4]);
        out.push_back(k_hex[b & 15]);
    }
}

std::optional<std::string> decode_hex(std::string_view text) {
    std::string out;
    int high = -1;
    for (char c : text) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            if (high >= 0) {
                return std::nullopt; // whitespace only between whole bytes
            }
            continue;
        }
        int v = hex_digit(c);
        if (v < 0) {
            return std::nullopt;
        }
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<char>(high * 16 + v));
            high = -1;
        }
    }
    if (high >= 0) {
        return std::nullopt;
    }
    return out;
}

void append_json_string(std::string& out, std::string_view text) {
    out.push_back('"');
    for (char c : text) {
        switch (c) {
        case '"':
            out.append("\\\"");
            break;
        case '\\':
            out.append("\\\\");
            break;
        case '\n':
            out.append("\\n");
            break;
        case '\r':
            out.append("\\r");
            break;
        case '\t':
            out.append("\\t");
            break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                out.append("\\u00");
                out.push_back(k_hex[static_cast<unsigned char>(c) >> 4]);
                out.push_back(k_hex[static_cast<unsigned char>(c) & 15]);
            } else {
                out.push_back(c);
            }
        }
    }
    out.push_back('"');
}

std::string escape_html(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#39;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::string one_line_excerpt(std::string_view text, std::size_t max_bytes) {
    std::string out;
    bool cut = false;
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        std::size_t length = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
        std::string piece;
        if (c < 0x20 || c == 0x7F) {
            piece = " ";
        } else if (c < 0x80 || is_valid_utf8(text.substr(i, length))) {
            piece = std::string(text.substr(i, length));
        } else {
            piece = fmt::format("\\x{:02x}", c);
            length = 1;
        }
        i += length;
        if (piece == " " && (out.empty() || out.back() == ' ')) {
            continue;
        }
        if (out.size() + piece.size() > max_bytes) {
            cut = text.find_first_not_of(" \t\r\n", i - length) != std::string_view::npos;
            break;
        }
        out += piece;
    }
    while (!out.empty() && out.back() == ' ') {
        out.pop_back();
    }
    if (cut) {
        out += "...";
    }
    return out;
}

} // namespace rtx::core
