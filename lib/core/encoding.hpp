#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rtx::core {

/// True when `bytes` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

/// Appends standard base64 (RFC 4648 section 4, with padding).
void append_base64(std::string& out, std::string_view bytes);
/// Decodes canonical standard base64 (padding optional but never more than needed, unused
/// bits zero, no whitespace); nullopt if malformed.
std::optional<std::string> decode_base64(std::string_view text);

/// Appends base64url without padding (RFC 4648 section 5), as JWTs (RFC 7515 section 2) and
/// Web Push keys (RFC 8291 section 3.2, RFC 8292 section 3.2) write binary values.
void append_base64url(std::string& out, std::string_view bytes);
/// Decodes canonical base64url; '=' padding is accepted but not needed (JSON from browsers
/// omits it, some tools keep it). nullopt if malformed.
std::optional<std::string> decode_base64url(std::string_view text);

/// Appends lower-case hex, two digits per byte.
void append_hex(std::string& out, std::string_view bytes);
/// Decodes hex (either case, optional whitespace between bytes); nullopt if malformed.
std::optional<std::string> decode_hex(std::string_view text);

/// Appends `text` as a JSON string literal with quotes (RFC 8259 section 7). `text` must be
/// valid UTF-8; control characters are escaped.
void append_json_string(std::string& out, std::string_view text);

/// `text` with &, <, >, " and ' written as character references, safe in HTML text and in
/// quoted attribute values.
std::string escape_html(std::string_view text);

/// `text` as one short line for a diagnostic (an HTTP error body on stderr): line breaks,
/// tabs and other control characters become spaces, runs of spaces one, the ends trimmed;
/// bytes that are not UTF-8 become "\xNN". Longer than `max_bytes`: cut at a character
/// boundary, with "..." added.
std::string one_line_excerpt(std::string_view text, std::size_t max_bytes);

} // namespace rtx::core
