#pragma once

#include "cmd/client_options.hpp"
#include "core/exit_code.hpp"
#include "listen/acceptor.hpp"
#include "listen/listen_session.hpp"
#include "serve/socket_address.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>

namespace rtx::cmd {

/// The listen-mode flags of `rtx tcp` and `rtx ws` (ncat -l, websocat -s), as typed.
struct ListenFlags {
    bool listen = false;
    bool keep_open = false;
    std::string tls_cert;
    std::string tls_key;
    std::string exec;          ///< --exec CMD: a process per connection.
    std::size_t max_procs = 0; ///< --max-procs N: processes at once; 0: no limit.
    std::string bridge;        ///< --bridge URL: a backend connection per connection.
};

/// Adds -l/--listen, --keep-open, --tls-cert, --tls-key, --exec, --max-procs and --bridge in
/// the "Listen" group.
void add_listen_flags(CLI::App& app, ListenFlags& flags);

/// Where to listen: "[HOST:]PORT" ("9000": 127.0.0.1; "0.0.0.0:9000", "[::]:9000"), and for
/// WebSocket a path after it ("9000/chat"; default "/": any path). Throws core::UsageError.
struct ListenTarget {
    serve::SocketAddress address;
    std::string path; ///< "/..." or empty when the target had none.
};
ListenTarget parse_listen_target(const std::string& text);

/// Checks that the client flags given make sense in listen mode (no --reconnect, --preamble,
/// --tls, --cacert, --cert, --servername) and the listen flags outside it; throws
/// core::UsageError. Returns the server TLS settings of --tls-cert/--tls-key.
transport::TlsOptions check_listen_flags(const ListenFlags& listen, const ClientFlags& client);

/// Runs a listen session: binds through `make_acceptor` (its error is printed and returned),
/// then joins the connections to stdin and stdout, or to a process each (--exec) or a backend
/// connection each (--bridge, whose TLS trust is the client flags' --cacert and -k).
using AcceptorFactory =
    std::function<core::Result<std::unique_ptr<listen::Acceptor>>(core::Loop& loop)>;
/// An acceptor of one protocol as the Acceptor run_listen takes.
template <class T>
core::Result<std::unique_ptr<listen::Acceptor>> as_acceptor(core::Result<std::unique_ptr<T>> made) {
    if (!made) {
        return made.error();
    }
    return std::unique_ptr<listen::Acceptor>(std::move(made.value()));
}
core::ExitCode run_listen(const ListenFlags& listen, const ClientFlags& client,
                          const ClientSettings& settings, const AcceptorFactory& make_acceptor);

} // namespace rtx::cmd
