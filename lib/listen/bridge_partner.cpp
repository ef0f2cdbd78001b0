#include "listen/bridge_partner.hpp"

#include "core/log.hpp"

#include <chrono>

namespace rtx::listen {

namespace {
/// After one side ended and the other was finished, how long it may take to close.
constexpr auto k_bridge_grace = std::chrono::seconds(2);
/// A side is not read while the other has more than this queued (PipeOptions::high_water).
constexpr std::size_t k_bridge_high_water = 1 << 20;
} // namespace

BridgePartner::BridgePartner(core::Loop& loop, transport::Connection& connection, Ended ended,
                             const BackendConnect& connect, transport::PayloadKind to_client)
    : m_connection(&connection)
    , m_ended(std::move(ended))
    , m_to_client(to_client)
    , m_grace(loop) {
    // Until the backend is open, what the client sends has nowhere to go: it is not read (one
    // read may already be on its way; it waits in m_held).
    m_client_paused = true;
    connection.pause_receiving(true);
    m_backend = connect(*this, connection.id());
}

BridgePartner::~BridgePartner() = default;

void BridgePartner::deliver(const transport::Message& message) {
    if (m_backend_closed) {
        return;
    }
    if (!m_backend->is_open()) {
        m_held.emplace_back(std::string(message.payload), message.kind);
        m_held_bytes += message.payload.size();
        if (m_held_bytes > k_bridge_high_water && m_connection != nullptr) {
            // A client connection that cannot pause (none of rtx's today): no unbounded hold.
            core::log_error("--bridge: connection {}: more than {} bytes came before the backend "
                            "was up",
                            m_connection->id(), k_bridge_high_water);
            m_held.clear();
            m_connection->close_with(1011, "the backend is not up");
        }
        return;
    }
    m_backend->send(message);
    if (m_backend->buffered_bytes() > k_bridge_high_water && !m_client_paused &&
        m_connection != nullptr) {
        m_client_paused = true;
        m_connection->pause_receiving(true); // on_drain (the backend's) resumes
    }
}

void BridgePartner::on_drain(transport::Connection&) {
    if (m_client_paused && m_connection != nullptr && m_backend->is_open()) {
        m_client_paused = false;
        m_connection->pause_receiving(false);
    }
}

bool BridgePartner::peer_finished() {
    // The client's FIN: the backend hears the end of input (TCP FIN, WebSocket close) and
    // what it still answers goes to the client until it closes.
    if (m_backend_closed) {
        return false;
    }
    m_client_finished = true;
    if (m_backend->is_open()) {
        m_backend->finish_sending();
    }
    return true;
}

void BridgePartner::resume() {
    // The client took what was queued for it: read the backend again.
    if (m_backend_paused && !m_backend_closed) {
        m_backend_paused = false;
        m_backend->pause_receiving(false);
    }
}

void BridgePartner::finish() {
    m_connection = nullptr;
    if (m_backend_closed) {
        // Ended was called already (the backend closed first); nothing more to do.
        return;
    }
    if (!m_backend->is_open()) {
        m_backend->close(); // on_close follows, after this call
        return;
    }
    m_backend->finish_sending();
    m_grace.start(k_bridge_grace, [this] { m_backend->close(); });
}

void BridgePartner::on_open(transport::Connection& backend) {
    for (const auto& [payload, kind] : std::exchange(m_held, {})) {
        backend.send(transport::Message{payload, kind});
    }
    m_held_bytes = 0;
    if (m_client_finished) {
        backend.finish_sending();
    }
    if (m_connection == nullptr) {
        backend.finish_sending(); // the client left while the backend was connecting
        m_grace.start(k_bridge_grace, [this] { m_backend->close(); });
        return;
    }
    if (backend.buffered_bytes() <= k_bridge_high_water) {
        m_client_paused = false;
        m_connection->pause_receiving(false);
    }
}

void BridgePartner::on_message(transport::Connection& backend, const transport::Message& message) {
    if (m_connection == nullptr) {
        return;
    }
    m_connection->send(transport::Message{message.payload, m_to_client});
    if (m_connection->buffered_bytes() > k_bridge_high_water && !m_backend_paused) {
        m_backend_paused = true;
        backend.pause_receiving(true); // resume() (the client drained) restarts it
    }
}

void BridgePartner::on_close(transport::Connection&, const transport::CloseInfo& info) {
    m_backend_closed = true;
    m_grace.stop();
    transport::Connection* client = m_connection;
    if (!info.was_open && client != nullptr) {
        // The client came for the backend: that it cannot be reached is the error of the run.
        core::log_error("--bridge: connection {}: {}", client->id(), info.reason);
        m_failure =
            info.exit_code == core::ExitCode::ok ? core::ExitCode::connect_failed : info.exit_code;
    } else if (info.exit_code != core::ExitCode::ok) {
        core::log_verbose("--bridge: connection {}: {}", m_backend->id(), info.reason);
    }
    m_ended(*this); // first: the owner learns our exit code; it destroys us later
    if (client != nullptr) {
        client->pause_receiving(false); // the close handshake reads the client's answer
        if (!info.was_open) {
            client->close_with(1011, "the backend is unreachable");
        } else {
            client->finish_sending();
        }
    }
}

} // namespace rtx::listen
