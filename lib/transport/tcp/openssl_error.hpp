#pragma once

#include <string>

namespace rtx::transport {

/// OpenSSL's oldest queued error, its reason only ("error:0A000086:SSL routines::certificate
/// verify failed" -> "certificate verify failed"); clears the queue. Shared by the TLS client
/// session and rtx serve's TLS set-up so both say a failure the same way.
std::string last_openssl_error();

} // namespace rtx::transport
