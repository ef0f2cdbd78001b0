#pragma once

#include "core/error.hpp"
#include "core/loop.hpp"
#include "listen/acceptor.hpp"
#include "serve/http/lws_context.hpp"
#include "serve/socket_address.hpp"

#include <libwebsockets.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace rtx::listen {

/// What `rtx ws -l` accepts.
struct WsListenOptions {
    serve::SocketAddress address;
    /// Listen on this Unix domain socket instead of `address` (`rtx ws -l unix:PATH`).
    std::string unix_path;
    /// Upgrades are accepted on this path only (others get 404); empty: on any path.
    std::string path;
    std::size_t max_message = 64 * 1024 * 1024; ///< Bigger messages close with 1009.
    bool compression = true;                    ///< Offer permessage-deflate.
    std::string tls_cert;                       ///< PEM certificate chain: wss://; empty: ws://.
    std::string tls_key;                        ///< PEM key; empty: in tls_cert.
};

/// `rtx ws -l`: lws makes the handshake (on `rtx serve`'s LwsContext), then the frames are
/// serve::ws::WsSession's, as for `rtx serve`'s endpoints; each connection is handed over as
/// a transport::Connection. Loop thread only.
class WsAcceptor final : public Acceptor {
public:
    /// Binds and listens: ExitCode::bind_failed when the address is taken, usage when it is
    /// not an IP address, failure when lws cannot start (or load the certificate).
    static core::Result<std::unique_ptr<WsAcceptor>> create(core::Loop& loop,
                                                            WsListenOptions options);
    ~WsAcceptor() override;

    void start(transport::Handler& handler, OnAccept on_accept) override;
    void stop() override;
    std::string url() const override;

private:
    class Connection;
    WsAcceptor(core::Loop& loop, WsListenOptions options);
    static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                        std::size_t len);
    int on_callback(lws* wsi, lws_callback_reasons reason, void* in, std::size_t len);
    int on_confirm_upgrade(lws* wsi);
    void on_established(lws* wsi);
    /// Before each poll: starts the sessions of new connections, reports ended ones.
    void on_before_poll();
    void forget(Connection& connection);

    core::Loop& m_loop;
    WsListenOptions m_options;
    transport::Handler* m_handler = nullptr;
    OnAccept m_on_accept;
    std::uint64_t m_next_id = 1;
    bool m_stopped = false;
    /// The deflate offers of upgrades confirmed and not yet established.
    std::unordered_map<lws*, std::string> m_upgrading;
    std::unordered_map<lws*, Connection*> m_connections; ///< Owned by the handler's side.
    std::vector<Connection*> m_taking_over;
    std::vector<Connection*> m_ended;
    std::uint64_t m_hook = 0;
    std::unique_ptr<serve::http::LwsContext> m_lws; ///< Last: destroyed first.
};

} // namespace rtx::listen
