#include "listen/listen_session.hpp"

#include "client/message_io.hpp"
#include "client/run_controls.hpp"
#include "core/log.hpp"
#include "core/stdin_pump.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <vector>

namespace rtx::listen {

using core::ExitCode;

struct ListenSession::Parts {
    Parts(core::Loop& loop, ListenSession& session)
        : controls(
              loop, session.m_sink, session.m_options.pipe.timeout,
              session.m_options.pipe.idle_timeout,
              [&session](ExitCode code, const std::string& error) { session.stop(code, error); },
              [&session] { return session.m_exit.has_value(); }) {}
    std::unique_ptr<core::StdinPump> pump;
    bool pump_paused = false;
    client::RunControls controls;
};

ListenSession::ListenSession(core::Loop& loop, ListenOptions options, output::Sink& sink)
    : m_loop(loop)
    , m_options(std::move(options))
    , m_sink(sink)
    , m_input_framer(m_options.pipe.input_framing) {}

ListenSession::~ListenSession() {
    if (m_reap_hook != 0) {
        m_loop.remove_before_poll_hook(m_reap_hook);
    }
}

ExitCode ListenSession::run(Acceptor& acceptor) {
    m_acceptor = &acceptor;
    m_parts = std::make_unique<Parts>(m_loop, *this);
    m_reap_hook = m_loop.add_before_poll_hook([this] { m_dead.clear(); });
    m_parts->controls.start();
    acceptor.start(*this, [this](std::unique_ptr<transport::Connection> connection,
                                 std::string peer) { on_accept(std::move(connection), peer); });
    core::log_info("listening on {}", acceptor.url());
    m_loop.run();
    m_sink.flush();
    if (m_parts->pump) {
        m_parts->pump->stop();
    }
    acceptor.stop();
    m_peers.clear();
    m_draining.clear();
    m_dead.clear();
    return m_exit.value_or(ExitCode::ok);
}

void ListenSession::touch() {
    m_parts->controls.touch();
}

void ListenSession::on_accept(std::unique_ptr<transport::Connection> connection, std::string peer) {
    transport::Connection* key = connection.get();
    Peer entry;
    entry.connection = std::move(connection);
    entry.peer_json = fmt::format(R"("peer":{})", nlohmann::json(peer).dump());
    entry.peer = std::move(peer);
    core::log_verbose("connection {} from {}", key->id(), entry.peer);
    m_peers.emplace(key, std::move(entry));
    if (!m_options.keep_open) {
        m_acceptor->stop(); // ncat -l without -k: one client
    }
}

void ListenSession::write_event(const Peer& peer, std::string_view event, std::string_view detail,
                                std::string_view extra) {
    if (m_sink.format() != output::Format::ndjson) {
        return;
    }
    output::Record record;
    record.time = std::chrono::system_clock::now();
    record.protocol = m_options.pipe.protocol;
    record.connection = peer.connection->id();
    record.event = event;
    record.lifecycle = true;
    record.payload = detail;
    m_extra = peer.peer_json;
    if (!extra.empty()) {
        m_extra.append(",").append(extra);
    }
    record.extra_json = m_extra;
    m_sink.write(record);
}

void ListenSession::on_open(transport::Connection& connection) {
    auto it = m_peers.find(&connection);
    if (it == m_peers.end()) {
        return;
    }
    ++m_open;
    write_event(it->second, "open", "", "");
    touch();
    if (m_exit) {
        connection.close();
        return;
    }
    if (m_options.partner) {
        start_partner(it->second);
        return;
    }
    if (m_stdin_done || !m_options.pipe.read_stdin) {
        if (m_options.pipe.half_close && m_options.pipe.read_stdin) {
            connection.finish_sending(); // stdin is over: nothing will be sent to it
        }
        return;
    }
    if (!m_parts->pump) {
        m_parts->pump = std::make_unique<core::StdinPump>(
            m_loop, STDIN_FILENO, [this](std::string_view bytes) { on_stdin(bytes); },
            [this](const std::string& error) { on_stdin_end(error); });
        m_parts->pump->start();
        return;
    }
    update_stdin();
}

void ListenSession::on_message(transport::Connection& connection,
                               const transport::Message& message) {
    if (m_exit) {
        return;
    }
    auto it = m_peers.find(&connection);
    if (it == m_peers.end()) {
        return;
    }
    if (it->second.partner) {
        it->second.partner->deliver(message);
        touch();
        if (m_options.pipe.count != 0 && ++m_received >= m_options.pipe.count) {
            stop(ExitCode::ok, "");
        }
        return;
    }
    auto record = client::received_record(m_options.pipe, m_sink.format(), connection.id(), message,
                                          m_scratch);
    if (record) {
        m_extra = it->second.peer_json;
        if (!record->extra_json.empty()) {
            m_extra.append(",").append(record->extra_json);
        }
        record->extra_json = m_extra;
        m_sink.write(*record);
    }
    touch();
    if (m_options.pipe.echo) {
        connection.send(message);
    }
    if (m_options.pipe.count != 0 && ++m_received >= m_options.pipe.count) {
        stop(ExitCode::ok, "");
    }
}

void ListenSession::on_drain(transport::Connection& connection) {
    auto it = m_peers.find(&connection);
    if (it != m_peers.end() && it->second.partner && !it->second.partner_ended) {
        it->second.partner->resume();
    }
    update_stdin();
}

bool ListenSession::on_peer_finished(transport::Connection& connection) {
    auto it = m_peers.find(&connection);
    if (it == m_peers.end() || m_exit) {
        return false;
    }
    Peer& peer = it->second;
    if (peer.partner) {
        return !peer.partner_ended && peer.partner->peer_finished();
    }
    // The one client half-closed: it still reads what stdin holds, however late that comes
    // (as the client side does); with --keep-open a client's FIN ends it, as with ncat -lk.
    if (m_options.keep_open || m_options.partner || !m_options.pipe.read_stdin || m_stdin_done ||
        isatty(STDIN_FILENO) == 1) {
        return false;
    }
    peer.peer_finished = true;
    return true;
}

void ListenSession::start_partner(Peer& peer) {
    transport::Connection& connection = *peer.connection;
    if (m_options.max_partners != 0 && m_partners_alive >= m_options.max_partners) {
        core::log_verbose("connection {} ({}): refused, {} processes run (--max-procs)",
                          connection.id(), peer.peer, m_partners_alive);
        connection.close_with(1013, "try again later: too many connections"); // RFC 6455 7.4.1
        return;
    }
    auto partner = m_options.partner(m_loop, connection, peer.peer,
                                     [this](Partner& ended) { on_partner_ended(ended); });
    if (!partner) {
        core::log_error("{}", partner.error().message);
        connection.close_with(1011, "internal error");
        return;
    }
    peer.partner = std::move(partner.value());
    ++m_partners_alive;
}

void ListenSession::on_partner_ended(Partner& partner) {
    --m_partners_alive;
    if (partner.exit_code() != ExitCode::ok && !m_options.keep_open && !m_exit) {
        m_exit = partner.exit_code(); // the one connection's partner failed (--bridge)
    }
    if (auto draining = m_draining.find(&partner); draining != m_draining.end()) {
        m_dead.push_back(std::move(draining->second));
        m_draining.erase(draining);
        maybe_finish();
        return;
    }
    for (auto& [connection, peer] : m_peers) {
        if (peer.partner.get() == &partner) {
            peer.partner_ended = true; // it finished the connection; on_close drops it
        }
    }
}

void ListenSession::update_stdin() {
    if (!m_parts->pump || m_stdin_done || m_exit) {
        return;
    }
    bool pause = m_open == 0;
    for (const auto& [connection, peer] : m_peers) {
        if (connection->is_open() && connection->buffered_bytes() > m_options.pipe.high_water) {
            pause = true;
        }
    }
    if (pause != m_parts->pump_paused) {
        m_parts->pump_paused = pause;
        if (pause) {
            m_parts->pump->pause();
        } else {
            m_parts->pump->resume();
        }
    }
}

void ListenSession::on_close(transport::Connection& connection, const transport::CloseInfo& info) {
    auto it = m_peers.find(&connection);
    if (it == m_peers.end()) {
        return;
    }
    std::string extra;
    if (info.protocol_code != 0) {
        extra = fmt::format(R"("code":{},"by_peer":{})", info.protocol_code, info.by_peer);
    }
    if (info.was_open) {
        --m_open;
        write_event(it->second, "close", info.reason, extra);
    }
    const bool ok = info.exit_code == ExitCode::ok;
    if (!ok || (info.by_peer && info.protocol_code != 0)) {
        // In --keep-open a failed connection is one of many: said, not fatal.
        if (m_options.keep_open || m_exit) {
            core::log_verbose("connection {} ({}): {}", connection.id(), it->second.peer,
                              info.reason);
        } else if (ok) {
            core::log_info("{}", info.reason); // a WebSocket close code and reason
        } else {
            core::log_error("{}", info.reason);
        }
    } else {
        core::log_verbose("connection {} ({}): {}", connection.id(), it->second.peer, info.reason);
    }
    if (!m_options.keep_open && !m_exit) {
        m_exit = info.exit_code;
    }
    if (auto& partner = it->second.partner) {
        if (it->second.partner_ended) {
            m_dead.push_back(std::move(partner));
        } else {
            // Draining first: a partner may end from inside finish().
            Partner* key = partner.get();
            m_draining.emplace(key, std::move(partner));
            key->finish();
        }
    }
    m_peers.erase(it); // destroys the connection: allowed from inside on_close
    update_stdin();
    maybe_finish();
}

void ListenSession::maybe_finish() {
    if (m_exit && m_peers.empty() && m_draining.empty()) {
        m_parts->controls.stop_timers();
        if (m_parts->pump) {
            m_parts->pump->stop();
        }
        m_loop.stop();
    }
}

void ListenSession::send_input(std::string_view payload) {
    ++m_input_messages;
    auto message = client::input_message(m_options.pipe, payload, m_scratch);
    if (!message) {
        stop(ExitCode::failure, fmt::format("stdin: message {} is not valid {}", m_input_messages,
                                            message.error().message));
        return;
    }
    for (auto& [connection, peer] : m_peers) {
        if (connection->is_open()) {
            connection->send(*message);
        }
    }
    touch();
}

void ListenSession::on_stdin(std::string_view bytes) {
    if (m_exit) {
        return;
    }
    bool fits =
        m_input_framer.feed(bytes, [this](std::string_view payload) { send_input(payload); });
    if (!fits) {
        stop(ExitCode::failure, "stdin: message longer than the 64 MiB limit");
        return;
    }
    update_stdin();
}

void ListenSession::on_stdin_end(const std::string& error) {
    if (m_exit) {
        return;
    }
    if (!error.empty()) {
        stop(ExitCode::failure, fmt::format("read stdin: {}", error));
        return;
    }
    m_input_framer.finish([this](std::string_view payload) { send_input(payload); });
    m_stdin_done = true;
    core::log_debug("stdin: end of input");
    std::vector<transport::Connection*> open;
    for (auto& [connection, peer] : m_peers) {
        if (m_options.pipe.half_close || peer.peer_finished) {
            open.push_back(connection);
        }
    }
    for (transport::Connection* connection : open) {
        if (m_peers.contains(connection)) {
            connection->finish_sending();
        }
    }
}

void ListenSession::stop(ExitCode code, const std::string& error) {
    if (m_exit) {
        return;
    }
    m_exit = code;
    if (!error.empty()) {
        core::log_error("{}", error);
    }
    if (m_parts->pump) {
        m_parts->pump->stop();
    }
    m_acceptor->stop();
    std::vector<transport::Connection*> open;
    for (auto& [connection, peer] : m_peers) {
        open.push_back(connection);
    }
    for (transport::Connection* connection : open) {
        if (m_peers.contains(connection)) {
            connection->close(); // on_close removes it
        }
    }
    maybe_finish();
}

} // namespace rtx::listen
