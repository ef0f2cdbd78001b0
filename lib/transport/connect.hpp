#pragma once

#include "core/loop.hpp"
#include "core/url.hpp"
#include "transport/connection.hpp"

#include <memory>
#include <string_view>

namespace rtx::transport {

/// True when some adapter handles `scheme` (tcp, tls, ...). The URL's scheme picks the
/// adapter; later protocols register here.
bool supports_scheme(std::string_view scheme);

/// Creates the adapter for url.scheme and starts connecting; the Handler hears on_open or
/// on_close. "tls" turns on options.tls. Precondition: supports_scheme(url.scheme).
std::unique_ptr<Connection> connect(core::Loop& loop, const core::Url& url, ConnectOptions options,
                                    Handler& handler, std::uint64_t id);

} // namespace rtx::transport
