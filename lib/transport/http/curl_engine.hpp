#pragma once

// The seam between the rtx executable and its HTTP module, rtx-http.so: the only code that
// calls libcurl (curl_engine.cpp). libcurl's own dependencies (LDAP, Kerberos/GSSAPI, RTMP,
// SSH, PSL, IDN, brotli, GnuTLS through LDAP) were about a third of the CPU of every rtx
// start; the commands that make no HTTP request (tcp, ws, mqtt, serve) no longer load them.
// CurlMulti and HttpTransfer (curl_multi.hpp) keep their interface and call the module
// through this table; the module calls back into rtx's code in the executable.

#include "transport/http/curl_multi.hpp"

#include <cstdint>

namespace rtx::transport::http {

/// Bumped whenever CurlEngine, HttpRequest, HttpResponseHead, HttpResult or
/// HttpTransferHandler changes, so that an executable never drives a module of other sources.
inline constexpr int k_curl_engine_abi = 1;

struct CurlEngine {
    int abi;
    CurlMulti::Impl* (*new_multi)(core::Loop& loop);
    void (*delete_multi)(CurlMulti::Impl* multi);
    void (*keep_idle_connections)(CurlMulti::Impl& multi, std::size_t count);
    HttpTransfer::Impl* (*new_transfer)(CurlMulti::Impl& multi, const HttpRequest& request,
                                        HttpTransferHandler& handler);
    /// What ~HttpTransfer does: frees the transfer, or, inside one of its own callbacks,
    /// marks it to free itself when curl lets go.
    void (*release_transfer)(HttpTransfer::Impl* transfer);
    void (*start_transfer)(HttpTransfer::Impl& transfer);
    void (*abort_transfer)(HttpTransfer::Impl& transfer);
    /// curl_getdate: an HTTP date (RFC 9110 and the obsolete forms) as a time_t, -1 if not one.
    std::int64_t (*parse_http_date)(const char* text);
    const char* (*library_version)();
};

} // namespace rtx::transport::http

extern "C" const void* rtx_curl_engine(); ///< The module's entry: a const CurlEngine*.
