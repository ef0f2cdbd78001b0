#pragma once

#include "client/pipe_session.hpp"
#include "core/exit_code.hpp"
#include "core/loop.hpp"
#include "listen/acceptor.hpp"
#include "listen/partner.hpp"
#include "output/sink.hpp"
#include "proto/framing.hpp"
#include "transport/connection.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rtx::listen {

/// What `rtx tcp -l` and `rtx ws -l` do around their connections.
struct ListenOptions {
    /// Framing of stdin, encodings, --count (messages received from all connections),
    /// --timeout, --idle-timeout, half-close on stdin EOF, --echo. Reconnect and
    /// stdin_after_open do not apply.
    client::PipeOptions pipe;
    /// Accept connections until stopped (--keep-open); otherwise the first connection is the
    /// only one, and its end ends the run.
    bool keep_open = false;
    /// Each connection's partner instead of stdin and stdout (--exec, --bridge); empty:
    /// stdin and stdout. With a partner, stdin is not read and stdout gets only --json's
    /// open and close records.
    PartnerFactory partner;
    /// Partners alive at most (--max-procs); a connection beyond it is closed at once
    /// (WebSocket: 1013 "try again later"). 0: no limit.
    std::size_t max_partners = 0;
};

/// Accepted connections joined to stdin and stdout, as `ncat -l` does: stdin is read while at
/// least one connection is open and each message goes to every open connection; what any
/// connection sends is written to stdout (NDJSON records name the connection and its peer).
/// Loop thread only.
class ListenSession final : private transport::Handler {
public:
    ListenSession(core::Loop& loop, ListenOptions options, output::Sink& sink);
    ~ListenSession() override;

    /// Accepts through `acceptor` until the run ends (the one connection closed, a signal,
    /// --timeout, --count) and returns the exit code: the connection's without --keep-open.
    core::ExitCode run(Acceptor& acceptor);

private:
    struct Peer {
        std::unique_ptr<transport::Connection> connection;
        std::string peer;      ///< "ip:port" of the client.
        std::string peer_json; ///< ,"peer":"..." for records.
        std::unique_ptr<Partner> partner;
        bool partner_ended = false;
        bool peer_finished = false; ///< Half-closed by the client; still sent to.
    };
    struct Parts;

    void on_accept(std::unique_ptr<transport::Connection> connection, std::string peer);
    void on_open(transport::Connection& connection) override;
    void on_message(transport::Connection& connection, const transport::Message& message) override;
    void on_close(transport::Connection& connection, const transport::CloseInfo& info) override;
    void on_drain(transport::Connection& connection) override;
    bool on_peer_finished(transport::Connection& connection) override;
    void on_stdin(std::string_view bytes);
    void on_stdin_end(const std::string& error);
    void send_input(std::string_view payload);
    /// Pauses stdin while no connection is open or one has too much queued.
    void update_stdin();
    void write_event(const Peer& peer, std::string_view event, std::string_view detail,
                     std::string_view extra);
    void touch();
    void stop(core::ExitCode code, const std::string& error);
    void maybe_finish();
    void start_partner(Peer& peer);
    void on_partner_ended(Partner& partner);

    core::Loop& m_loop;
    ListenOptions m_options;
    output::Sink& m_sink;
    Acceptor* m_acceptor = nullptr;
    proto::Framer m_input_framer;
    std::unique_ptr<Parts> m_parts;
    std::unordered_map<transport::Connection*, Peer> m_peers;
    std::size_t m_open = 0;
    /// Partners whose connection is gone and that are still ending (a process in its grace).
    std::unordered_map<Partner*, std::unique_ptr<Partner>> m_draining;
    /// Partners that ended, destroyed on the next loop turn (outside their own calls).
    std::vector<std::unique_ptr<Partner>> m_dead;
    std::size_t m_partners_alive = 0;
    std::uint64_t m_reap_hook = 0; ///< Destroys m_dead before each poll.
    std::uint64_t m_received = 0;
    std::uint64_t m_input_messages = 0;
    std::string m_scratch;
    std::string m_extra; ///< Reused: a record's extra JSON.
    std::optional<core::ExitCode> m_exit;
    bool m_stdin_done = false;
};

} // namespace rtx::listen
