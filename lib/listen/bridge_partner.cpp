#include "listen/bridge_partner.hpp"

#include "core/log.hpp"

#include <chrono>

namespace rtx::listen {

namespace {
/// After one side ended and the other was finished, how long it may take to close.
constexpr auto k_bridge_grace = std::chrono::seconds(2);
} // namespace

BridgePartner::BridgePartner(core::Loop& loop, transport::Connection& connection, Ended ended,
                             const BackendConnect& connect, transport::PayloadKind to_client)
    : m_connection(&connection)
    , m_ended(std::move(ended))
    , m_to_client(to_client)
    , m_grace(loop) {
    m_backend = connect(*this, connection.id());
}

BridgePartner::~BridgePartner() = default;

void BridgePartner::deliver(const transport::Message& message) {
    if (m_backend_closed) {
        return;
    }
    if (!m_backend->is_open()) {
        m_held.emplace_back(std::string(message.payload), message.kind);
        return;
    }
    m_backend->send(message);
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
    if (m_connection == nullptr) {
        backend.finish_sending(); // the client left while the backend was connecting
        m_grace.start(k_bridge_grace, [this] { m_backend->close(); });
    }
}

void BridgePartner::on_message(transport::Connection&, const transport::Message& message) {
    if (m_connection != nullptr) {
        m_connection->send(transport::Message{message.payload, m_to_client});
    }
}

void BridgePartner::on_close(transport::Connection&, const transport::CloseInfo& info) {
    m_backend_closed = true;
    m_grace.stop();
    if (info.exit_code != core::ExitCode::ok) {
        core::log_verbose("--bridge: connection {}: {}", m_backend->id(), info.reason);
    }
    if (m_connection != nullptr) {
        if (!info.was_open) {
            m_connection->close_with(1011, "the backend is unreachable");
        } else {
            m_connection->finish_sending();
        }
    }
    m_ended(*this); // the owner destroys us later, outside this call
}

} // namespace rtx::listen
