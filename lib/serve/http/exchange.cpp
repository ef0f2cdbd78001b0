#include "serve/http/exchange.hpp"

#include "serve/http/cors.hpp"

#include <fmt/format.h>

#include <cstring>

namespace rtx::serve::http {

namespace {

/// Room for the status line and headers; ours are a few hundred bytes.
constexpr std::size_t k_head_room = 2048;

bool add_header(lws* wsi, std::string_view name, std::string_view value, unsigned char** p,
                unsigned char* end) {
    // lws writes the name as given: it must carry its colon.
    char with_colon[64];
    if (name.size() + 2 > sizeof(with_colon)) {
        return false;
    }
    std::memcpy(with_colon, name.data(), name.size());
    with_colon[name.size()] = ':';
    with_colon[name.size() + 1] = '\0';
    return lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(with_colon),
                                       reinterpret_cast<const unsigned char*>(value.data()),
                                       static_cast<int>(value.size()), p, end) == 0;
}

} // namespace

bool is_h2(lws* wsi) {
    // An HTTP/2 stream is a child of the connection's network wsi; HTTP/1.1 is its own.
    return lws_get_network_wsi(wsi) != wsi;
}

void Exchange::detach_headers() {
    if (!m_headers_detached) {
        m_headers_detached = true;
        lws_http_headers_detach(m_wsi);
    }
}

Next Exchange::on_body(std::string_view) {
    return Next::wait;
}

Next Exchange::on_body_complete() {
    return Next::wait;
}

std::string& write_buffer() {
    thread_local std::string buffer;
    return buffer;
}

bool write_response(lws* wsi, const Response& response) {
    std::string& buffer = write_buffer();
    buffer.assign(LWS_PRE + k_head_room, '\0');
    auto* start = reinterpret_cast<unsigned char*>(buffer.data()) + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = start + k_head_room;
    if (lws_add_http_header_status(wsi, response.status, &p, end) != 0) {
        return false;
    }
    bool ok = true;
    const bool h2 = is_h2(wsi);
    if (response.status != 204 && response.status != 304) {
        ok = ok && add_header(wsi, "content-type", response.content_type, &p, end);
        if (response.chunked) {
            // HTTP/2 frames the body itself (RFC 9113 section 8.2.2: no Transfer-Encoding).
            ok = ok && (h2 || add_header(wsi, "transfer-encoding", "chunked", &p, end));
        } else {
            ok = ok &&
                 add_header(wsi, "content-length", std::to_string(response.body.size()), &p, end);
        }
    }
    const CorsPolicy* cors = CorsPolicy::current();
    if (const auto answer = cors != nullptr ? cors->answer(wsi) : CorsAnswer{"*", false}) {
        ok = ok && add_header(wsi, "access-control-allow-origin", answer->allow_origin, &p, end);
        if (answer->credentials) {
            ok = ok && add_header(wsi, "access-control-allow-credentials", "true", &p, end);
        }
        if (answer->allow_origin != "*") {
            ok = ok && add_header(wsi, "vary", "origin", &p, end);
        }
    }
    for (const auto& [name, value] : response.headers) {
        ok = ok && add_header(wsi, name, value, &p, end);
    }
    if (response.close && !h2) {
        ok = ok && add_header(wsi, "connection", "close", &p, end);
    }
    if (!ok || lws_finalize_http_header(wsi, &p, end) != 0) {
        return false;
    }
    const auto head_end =
        static_cast<std::size_t>(p - reinterpret_cast<unsigned char*>(buffer.data()));
    buffer.resize(head_end);
    if (h2) {
        const bool has_body =
            !response.body.empty() && response.status != 204 && response.status != 304;
        const bool ends = !response.chunked && !has_body;
        const auto head = static_cast<std::size_t>(p - start);
        const int flags =
            LWS_WRITE_HTTP_HEADERS | (ends ? static_cast<int>(LWS_WRITE_H2_STREAM_END) : 0);
        if (lws_write(wsi, start, head, static_cast<lws_write_protocol>(flags)) < 0) {
            return false;
        }
        if (!has_body) {
            return true;
        }
        buffer.resize(LWS_PRE);
        buffer.append(response.body);
        return write_body(wsi, buffer, LWS_PRE, !response.chunked);
    }
    if (response.status != 204 && response.status != 304) {
        buffer.append(response.body);
    }
    return write_body(wsi, buffer, LWS_PRE);
}

bool write_body(lws* wsi, std::string& buffer, std::size_t offset, bool last) {
    const std::size_t length = buffer.size() - offset;
    const bool h2 = is_h2(wsi);
    if (length == 0 && !(h2 && last)) {
        return true;
    }
    if (h2) {
        const int written = lws_write(wsi, reinterpret_cast<unsigned char*>(buffer.data()) + offset,
                                      length, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
        return written >= 0 && static_cast<std::size_t>(written) == length;
    }
    // LWS_WRITE_HTTP on HTTP/1.1: lws sends the bytes as they are (no compression is built
    // in), so the chunk framing is ours.
    int written = lws_write(wsi, reinterpret_cast<unsigned char*>(buffer.data()) + offset, length,
                            LWS_WRITE_HTTP);
    return written >= 0 && static_cast<std::size_t>(written) == length;
}

Response error_response(unsigned status, std::string_view message) {
    Response response;
    response.status = status;
    response.body = fmt::format("{}\n", message);
    return response;
}

Next collect_body(lws* wsi, std::string& body, std::string_view bytes, std::size_t max_body) {
    if (body.size() + bytes.size() > max_body) {
        Response response = error_response(
            413,
            fmt::format("request body too large: the limit is {} bytes (--max-body)", max_body));
        response.close = true; // the rest of the body is never read
        write_response(wsi, response);
        return Next::close;
    }
    body.append(bytes);
    return Next::wait;
}

} // namespace rtx::serve::http
