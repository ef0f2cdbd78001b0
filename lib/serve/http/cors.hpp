#pragma once

#include "serve/access.hpp"

#include <libwebsockets.h>

#include <optional>
#include <string>
#include <unordered_map>

namespace rtx::serve::http {

/// The CORS answer of every request on the HTTP port (--cors): computed from the request's
/// Origin when it arrives, and kept for its connection, because some responses (a held
/// poll, a stream's head after a replay) are written after lws has dropped the request
/// headers. write_response() adds the headers. One per loop thread (the HTTP listener's),
/// installed with install(); loop thread only.
class CorsPolicy {
public:
    explicit CorsPolicy(const AccessOptions& access)
        : m_access(access) {}
    /// Makes this the policy write_response() asks on this thread (null: none, "*").
    static void install(CorsPolicy* policy);
    /// The policy installed on this thread, or null.
    static CorsPolicy* current();

    /// A request came on `wsi` (its headers are attached).
    void on_request(lws* wsi);
    void forget(lws* wsi) { m_answers.erase(wsi); }
    /// What `wsi`'s response carries; nullopt: no CORS headers.
    std::optional<CorsAnswer> answer(lws* wsi) const;
    /// The Access-Control-Allow-Headers of a preflight.
    static constexpr std::string_view k_allow_headers =
        "authorization, content-type, last-event-id";

private:
    const AccessOptions& m_access;
    std::unordered_map<lws*, std::optional<CorsAnswer>> m_answers;
};

} // namespace rtx::serve::http
