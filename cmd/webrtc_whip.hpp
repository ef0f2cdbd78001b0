#pragma once

#include "cmd/client_options.hpp"
#include "core/exit_code.hpp"
#include "transport/webrtc/webrtc_connection.hpp"

#include <string>
#include <vector>

namespace rtx::cmd {

/// `rtx webrtc --whip URL`: WHIP signalling (RFC 9725). The offer is POSTed to URL as
/// application/sdp with `headers` ("Name: value", e.g. an Authorization bearer token), the
/// 201 response's body is the answer, and the session's Location is DELETEd when the
/// session ends (stdin EOF, --count, a signal, a failure after the answer).
core::ExitCode run_whip(const std::string& url, const std::vector<std::string>& headers,
                        const ClientSettings& settings,
                        const transport::webrtc::WebrtcOptions& webrtc);

} // namespace rtx::cmd
