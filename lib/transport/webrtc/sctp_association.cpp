#include "transport/webrtc/sctp_association.hpp"

#include "core/log.hpp"
#include "core/timer.hpp"

#include <arpa/inet.h>
#include <usrsctp.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <vector>

namespace rtx::transport::webrtc {

namespace {

using proto::k_ppid_binary;
using proto::k_ppid_binary_empty;
using proto::k_ppid_dcep;
using proto::k_ppid_string;
using proto::k_ppid_string_empty;

// The send buffer, grown for a message larger than it: a message goes to usrsctp whole,
// because sending one in pieces (SCTP_EXPLICIT_EOR) makes a non-blocking usrsctp_sendv wait
// for room when the buffer fills mid-message, and without usrsctp's threads that wait never
// ends (measured: the loop thread spun in sctp_lower_sosend).
constexpr int k_send_buffer = 1024 * 1024;
constexpr int k_partial_delivery_point = 64 * 1024;
// Path MTU for SCTP packets: each goes into one DTLS record inside one 1280-byte datagram.
constexpr std::uint32_t k_sctp_mtu = 1200;
constexpr auto k_timer_tick = std::chrono::milliseconds(10);

int g_users = 0;
// usrsctp's clock is process-wide: usrsctp_handle_timers(elapsed) advances every
// association's timers, so with several associations (rtx serve's peers) each tick passes
// the time since the last tick of any of them, not since its own.
std::uint64_t g_last_tick = 0;
bool g_clock_started = false;

int conn_output(void* address, void* buffer, size_t length, uint8_t, uint8_t);

void acquire_usrsctp() {
    if (g_users++ == 0) {
        // No threads: timers are driven by SctpAssociation's loop timer, so usrsctp never
        // calls back from a thread of its own.
        usrsctp_init_nothreads(0, conn_output, nullptr);
        // RFC 8831 section 6.2: stream reconfiguration closes channels.
        usrsctp_sysctl_set_sctp_reconfig_enable(1);
        usrsctp_sysctl_set_sctp_ecn_enable(0);
        // RFC 8831 section 6.1: partially reliable channels need PR-SCTP (RFC 3758).
        usrsctp_sysctl_set_sctp_pr_enable(1);
    }
}

void release_usrsctp() {
    if (--g_users == 0) {
        g_clock_started = false;
        usrsctp_finish();
    }
}

struct Event {
    enum class Kind { connected, message, dry, reset, failed } kind;
    std::uint16_t stream = 0;
    std::uint32_t ppid = 0;
    std::string data;
    std::uint16_t flags = 0;
    std::vector<std::uint16_t> streams;
};

struct Outgoing {
    std::uint16_t stream;
    std::uint32_t ppid;
    std::string data;
};

} // namespace

std::string describe(const ChannelParameters& parameters) {
    std::string text = parameters.ordered ? "ordered" : "unordered";
    switch (parameters.reliability) {
    case ChannelParameters::Reliability::reliable:
        return "reliable " + text;
    case ChannelParameters::Reliability::max_retransmits:
        return fmt::format("{}, at most {} retransmissions", text, parameters.value);
    case ChannelParameters::Reliability::max_packet_life:
        return fmt::format("{}, abandoned after {} ms", text, parameters.value);
    }
    return text;
}

struct SctpAssociation::Impl {
    core::Loop& loop;
    std::uint16_t local_port;
    std::uint16_t remote_port;
    SctpCallbacks callbacks;
    struct socket* socket = nullptr;
    core::Timer timer;
    std::vector<Event> events;
    bool dispatching = false;
    std::deque<Outgoing> queue;
    std::size_t queued_bytes = 0;
    /// User messages wait in `queue` until the loop is about to block (flush_hook), so that
    /// usrsctp is handed a whole batch at once and bundles it (see flush()).
    std::uint64_t flush_hook = 0;
    bool nodelay = true; // SCTP_NODELAY as last set
    std::size_t send_buffer = k_send_buffer;
    std::vector<char> receive_buffer = std::vector<char>(k_partial_delivery_point);
    std::string partial_message; // the pieces of the message being delivered (no MSG_EOR yet)
    bool partial_started = false;
    std::uint16_t partial_stream = 0;
    std::uint16_t partial_ssn = 0;
    std::string partial_notification;
    struct ChannelState {
        bool awaiting_ack = false;
        bool closing = false;        // our outgoing reset is wanted
        bool reset_sent = false;     // requested from usrsctp
        bool outgoing_reset = false; // done
        bool incoming_reset = false; // the peer reset its outgoing stream
        bool peer_first = false;
        bool closed = false;
        std::string label;
        std::string protocol;
        ChannelParameters parameters;
    };
    std::map<std::uint16_t, ChannelState> channels;
    bool failed = false;
    bool registered = false;

    Impl(core::Loop& owner, std::uint16_t local, std::uint16_t remote, SctpCallbacks cbs)
        : loop(owner)
        , local_port(local)
        , remote_port(remote)
        , callbacks(std::move(cbs))
        , timer(owner) {}

    // Reads everything usrsctp holds for us (RFC 6458 section 9.13, usrsctp_recvv). The socket
    // has no receive callback: usrsctp invokes it per read-queue entry, outside the in-order
    // reading of sctp_sorecvmsg, and with it the tail of a large message could come after the
    // next message (measured: a 3 MiB message arrived split around the 'bye' sent after it,
    // about one run in four under ASan). recvv reads the read queue in order, and
    // SCTP_FRAGMENT_INTERLEAVE level 0 makes a partial delivery block every other message and
    // notification of the association until its last piece, so pieces without MSG_EOR are always
    // the front of one message.
    //
    // A message of a partially reliable channel may be abandoned by the sender while it is
    // being delivered: usrsctp then ends it early (its last piece carries MSG_EOR) and queues
    // SCTP_PARTIAL_DELIVERY_EVENT right behind it. So a message that came in pieces is held
    // until the next read shows no such event, and dropped when it does.
    void read_available() {
        Event held{Event::Kind::message, 0, 0, {}, 0, {}};
        bool holding = false;
        auto release = [this, &held, &holding] {
            if (holding) {
                events.push_back(std::move(held));
                holding = false;
            }
        };
        while (!failed) {
            struct sctp_rcvinfo info {};
            socklen_t info_length = sizeof info;
            socklen_t from_length = 0;
            unsigned int info_type = 0;
            int flags = 0;
            ssize_t length =
                usrsctp_recvv(socket, receive_buffer.data(), receive_buffer.size(), nullptr,
                              &from_length, &info, &info_length, &info_type, &flags);
            if (length < 0) {
                release();
                if (errno == EWOULDBLOCK || errno == EAGAIN || errno == ENOTCONN) {
                    return; // nothing more now (or not connected yet)
                }
                events.push_back(Event{Event::Kind::failed,
                                       0,
                                       0,
                                       fmt::format("SCTP receive failed: {}", std::strerror(errno)),
                                       0,
                                       {}});
                return;
            }
            std::string_view bytes(receive_buffer.data(), static_cast<std::size_t>(length));
            if ((flags & MSG_NOTIFICATION) != 0) {
                partial_notification.append(bytes);
                if ((flags & MSG_EOR) == 0) {
                    continue;
                }
                if (delivery_aborted(partial_notification)) {
                    core::log_verbose("webrtc: the peer abandoned a message while it was being "
                                      "delivered (partial reliability): dropped");
                    holding = false;
                    partial_message.clear();
                    partial_started = false;
                } else {
                    release();
                    notification(partial_notification);
                }
                partial_notification.clear();
                continue;
            }
            release();
            if (length == 0) {
                events.push_back(Event{Event::Kind::failed, 0, 0, "association closed", 0, {}});
                return;
            }
            if (info_type != SCTP_RECVV_RCVINFO) {
                events.push_back(Event{Event::Kind::failed,
                                       0,
                                       0,
                                       "SCTP message without its stream (no SCTP_RCVINFO)",
                                       0,
                                       {}});
                return;
            }
            if (partial_started &&
                (info.rcv_sid != partial_stream || info.rcv_ssn != partial_ssn)) {
                // Level 0 forbids this; never join two messages into one.
                events.push_back(Event{
                    Event::Kind::failed,
                    0,
                    0,
                    fmt::format("SCTP delivered stream {} message {} inside stream {} message {}",
                                info.rcv_sid, info.rcv_ssn, partial_stream, partial_ssn),
                    0,
                    {}});
                return;
            }
            bool in_pieces = partial_started || (flags & MSG_EOR) == 0;
            partial_started = true;
            partial_stream = info.rcv_sid;
            partial_ssn = info.rcv_ssn;
            partial_message.append(bytes);
            if ((flags & MSG_EOR) == 0) {
                continue;
            }
            partial_started = false;
            if ((flags & MSG_TRUNC) != 0) {
                partial_message.clear(); // abandoned before its first byte came up
                continue;
            }
            Event event{Event::Kind::message, info.rcv_sid, ntohl(info.rcv_ppid), {}, 0, {}};
            event.data.swap(partial_message);
            if (in_pieces) {
                held = std::move(event);
                holding = true;
            } else {
                events.push_back(std::move(event));
            }
        }
        release();
    }

    static bool delivery_aborted(std::string_view bytes) {
        const auto* n = reinterpret_cast<const union sctp_notification*>(bytes.data());
        return bytes.size() >= sizeof(struct sctp_pdapi_event) &&
               n->sn_header.sn_type == SCTP_PARTIAL_DELIVERY_EVENT &&
               n->sn_pdapi_event.pdapi_indication == SCTP_PARTIAL_DELIVERY_ABORTED;
    }

    void notification(std::string_view bytes) {
        const auto* n = reinterpret_cast<const union sctp_notification*>(bytes.data());
        if (bytes.size() < sizeof(n->sn_header) || bytes.size() != n->sn_header.sn_length) {
            return;
        }
        switch (n->sn_header.sn_type) {
        case SCTP_ASSOC_CHANGE:
            if (n->sn_assoc_change.sac_state == SCTP_COMM_UP) {
                events.push_back(Event{Event::Kind::connected, 0, 0, {}, 0, {}});
            } else if (n->sn_assoc_change.sac_state == SCTP_COMM_LOST ||
                       n->sn_assoc_change.sac_state == SCTP_CANT_STR_ASSOC ||
                       n->sn_assoc_change.sac_state == SCTP_SHUTDOWN_COMP) {
                events.push_back(Event{Event::Kind::failed,
                                       0,
                                       0,
                                       n->sn_assoc_change.sac_state == SCTP_SHUTDOWN_COMP
                                           ? "the peer shut the association down"
                                           : "the SCTP association was lost",
                                       0,
                                       {}});
            }
            break;
        case SCTP_SENDER_DRY_EVENT:
            events.push_back(Event{Event::Kind::dry, 0, 0, {}, 0, {}});
            break;
        case SCTP_STREAM_RESET_EVENT: {
            const auto& reset = n->sn_strreset_event;
            Event event{Event::Kind::reset, 0, 0, {}, reset.strreset_flags, {}};
            std::size_t count =
                (reset.strreset_length - sizeof(struct sctp_stream_reset_event)) / sizeof(uint16_t);
            for (std::size_t i = 0; i < count; ++i) {
                event.streams.push_back(reset.strreset_stream_list[i]);
            }
            events.push_back(std::move(event));
            break;
        }
        default:
            break;
        }
    }

    // Runs after every call into usrsctp: reads what it holds for us and handles it here, where
    // user callbacks may call back into the association; then retries what waits for room in
    // the send buffer (acknowledgements free it during those calls).
    void dispatch() {
        if (dispatching) {
            return;
        }
        dispatching = true;
        while (!failed) {
            read_available();
            if (events.empty()) {
                if (queue.empty()) {
                    break;
                }
                flush();
                if (events.empty()) {
                    break;
                }
                continue;
            }
            std::vector<Event> batch;
            batch.swap(events);
            for (auto& event : batch) {
                handle(event);
                if (failed) {
                    break;
                }
            }
        }
        dispatching = false;
    }

    void fail(std::string reason) {
        if (failed) {
            return;
        }
        failed = true;
        timer.stop();
        callbacks.on_failed(std::move(reason));
    }

    void handle(Event& event) {
        switch (event.kind) {
        case Event::Kind::connected:
            callbacks.on_connected();
            break;
        case Event::Kind::failed:
            fail(event.data);
            break;
        case Event::Kind::dry:
            for (auto& [stream, channel] : channels) {
                maybe_reset(stream, channel);
            }
            break;
        case Event::Kind::reset:
            stream_reset(event);
            break;
        case Event::Kind::message:
            message(event.stream, event.ppid, event.data);
            break;
        }
    }

    void message(std::uint16_t stream, std::uint32_t ppid, const std::string& data) {
        if (ppid == k_ppid_dcep) {
            dcep(stream, data);
            return;
        }
        auto it = channels.find(stream);
        if (it != channels.end() && it->second.awaiting_ack) {
            // RFC 8832 section 6: user data before DATA_CHANNEL_ACK acknowledges the open (an
            // unordered message may overtake the ordered ACK).
            it->second.awaiting_ack = false;
            callbacks.on_channel_open(stream, it->second.label, it->second.protocol,
                                      it->second.parameters);
        }
        switch (ppid) {
        case k_ppid_string:
        case k_ppid_binary:
            callbacks.on_message(stream, data, ppid == k_ppid_binary);
            return;
        case k_ppid_string_empty:
        case k_ppid_binary_empty:
            // RFC 8831 section 6.6: an empty message is sent as one byte, to be ignored.
            callbacks.on_message(stream, {}, ppid == k_ppid_binary_empty);
            return;
        default:
            return; // RFC 8831 section 8: the deprecated partial PPIDs 52/54 are not used.
        }
    }

    void dcep(std::uint16_t stream, const std::string& data) {
        proto::DcepParseResult parsed = proto::parse_dcep(data);
        if (parsed.type == proto::DcepType::ack) {
            auto it = channels.find(stream);
            if (it != channels.end() && it->second.awaiting_ack) {
                it->second.awaiting_ack = false;
                callbacks.on_channel_open(stream, it->second.label, it->second.protocol,
                                          it->second.parameters);
            }
            return;
        }
        if (parsed.type != proto::DcepType::open) {
            return; // RFC 8832 section 8.2.1 has no other type; an unknown one is ignored
        }
        if (!parsed.open) {
            fail(std::move(parsed.error));
            return;
        }
        ChannelState& channel = channels[stream];
        channel.label = std::move(parsed.open->label);
        channel.protocol = std::move(parsed.open->protocol);
        channel.parameters = parsed.open->parameters;
        // RFC 8832 section 6: answer with DATA_CHANNEL_ACK on the same stream.
        enqueue(stream, k_ppid_dcep, proto::format_dcep_ack());
        callbacks.on_channel_open(stream, channel.label, channel.protocol, channel.parameters);
    }

    void stream_reset(const Event& event) {
        if ((event.flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)) != 0) {
            fail("the peer refused to reset a stream (closing the channel)");
            return;
        }
        for (std::uint16_t stream : event.streams) {
            auto it = channels.find(stream);
            if (it == channels.end()) {
                continue;
            }
            ChannelState& channel = it->second;
            if ((event.flags & SCTP_STREAM_RESET_INCOMING_SSN) != 0) {
                channel.incoming_reset = true;
                // RFC 8831 section 6.7: when the peer resets its outgoing stream, reset ours
                // too (after what we queued has been delivered).
                if (!channel.closing) {
                    channel.closing = true;
                    channel.peer_first = true;
                }
            }
            if ((event.flags & SCTP_STREAM_RESET_OUTGOING_SSN) != 0) {
                channel.outgoing_reset = true;
            }
            maybe_reset(stream, channel);
            maybe_closed(stream, channel);
        }
    }

    bool dry() {
        struct sctp_status status {};
        socklen_t size = sizeof status;
        if (usrsctp_getsockopt(socket, IPPROTO_SCTP, SCTP_STATUS, &status, &size) != 0) {
            return false;
        }
        return status.sstat_unackdata == 0 && status.sstat_penddata == 0;
    }

    void maybe_reset(std::uint16_t stream, ChannelState& channel) {
        if (!channel.closing || channel.reset_sent || failed) {
            return;
        }
        for (const auto& item : queue) {
            if (item.stream == stream) {
                return; // still sending
            }
        }
        if (!dry()) {
            return; // SCTP_SENDER_DRY_EVENT brings us back
        }
        channel.reset_sent = true;
        std::vector<char> storage(sizeof(struct sctp_reset_streams) + sizeof(uint16_t));
        auto* reset = reinterpret_cast<struct sctp_reset_streams*>(storage.data());
        reset->srs_assoc_id = SCTP_ALL_ASSOC;
        reset->srs_flags = SCTP_STREAM_RESET_OUTGOING;
        reset->srs_number_streams = 1;
        reset->srs_stream_list[0] = stream;
        if (usrsctp_setsockopt(socket, IPPROTO_SCTP, SCTP_RESET_STREAMS, reset,
                               static_cast<socklen_t>(storage.size())) != 0) {
            fail(fmt::format("could not reset SCTP stream {}: {}", stream, std::strerror(errno)));
        }
    }

    void maybe_closed(std::uint16_t stream, ChannelState& channel) {
        if (channel.closed || !channel.incoming_reset || !channel.outgoing_reset) {
            return;
        }
        channel.closed = true;
        callbacks.on_channel_closed(stream, channel.peer_first);
    }

    void enqueue(std::uint16_t stream, std::uint32_t ppid, std::string data) {
        queued_bytes += data.size();
        queue.push_back(Outgoing{stream, ppid, std::move(data)});
    }

    // SCTP_NODELAY off is usrsctp's Nagle: with data in flight, a message smaller than a
    // packet waits in usrsctp's queue instead of going out alone.
    void set_nodelay(bool on) {
        if (on == nodelay || socket == nullptr) {
            return;
        }
        int value = on ? 1 : 0;
        if (usrsctp_setsockopt(socket, IPPROTO_SCTP, SCTP_NODELAY, &value, sizeof value) == 0) {
            nodelay = on;
        }
    }

    // Hands the queue to usrsctp. Every message but the last goes with Nagle on, so usrsctp
    // bundles the small ones into full packets (several DATA chunks each, RFC 9260 section
    // 6.10) instead of sending a packet, a DTLS record and a datagram per message; the last
    // goes with SCTP_NODELAY, which makes usrsctp send everything queued at once, so no
    // message waits for a SACK. Measured with 100,000 64-byte messages: 23,000-31,000
    // datagrams both ways before (one sendv, one packet while the window was open), 15,000
    // after.
    void flush() {
        bool had_queue = !queue.empty();
        while (!queue.empty() && !failed) {
            set_nodelay(queue.size() == 1);
            Outgoing& item = queue.front();
            if (item.data.size() > send_buffer && !grow_send_buffer(item.data.size())) {
                return;
            }
            struct sctp_sendv_spa spa {};
            spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
            spa.sendv_sndinfo.snd_sid = item.stream;
            spa.sendv_sndinfo.snd_ppid = htonl(item.ppid);
            auto channel = channels.find(item.stream);
            // DCEP messages go reliable and ordered (RFC 8832 section 6); user messages with the
            // channel's parameters (RFC 8831 section 6.6).
            if (item.ppid != k_ppid_dcep && channel != channels.end()) {
                const ChannelParameters& parameters = channel->second.parameters;
                if (!parameters.ordered) {
                    spa.sendv_sndinfo.snd_flags |= SCTP_UNORDERED;
                }
                if (parameters.reliability != ChannelParameters::Reliability::reliable) {
                    spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
                    spa.sendv_prinfo.pr_policy =
                        parameters.reliability == ChannelParameters::Reliability::max_retransmits
                            ? SCTP_PR_SCTP_RTX
                            : SCTP_PR_SCTP_TTL;
                    spa.sendv_prinfo.pr_value = parameters.value;
                }
            }
            ssize_t sent = usrsctp_sendv(socket, item.data.data(), item.data.size(), nullptr, 0,
                                         &spa, sizeof spa, SCTP_SENDV_SPA, 0);
            if (sent < 0) {
                const int error = errno;
                // What Nagle held goes out with the SACKs that make room (usrsctp applies
                // Nagle only on a send call), and the next send is not delayed.
                set_nodelay(true);
                if (error == EWOULDBLOCK || error == EAGAIN) {
                    core::log_debug("webrtc: SCTP send buffer full, {} bytes queued", queued_bytes);
                    return; // dispatch() retries after the next SACK
                }
                fail(fmt::format("SCTP send failed: {}", std::strerror(error)));
                return;
            }
            // Without explicit EOR a message is taken whole or not at all.
            queued_bytes -= item.data.size();
            std::uint16_t stream = item.stream;
            queue.pop_front();
            auto it = channels.find(stream);
            if (it != channels.end()) {
                maybe_reset(stream, it->second);
            }
        }
        if (had_queue && queue.empty() && !failed) {
            callbacks.on_drain();
        }
    }

    bool grow_send_buffer(std::size_t message) {
        int size = static_cast<int>(message + 64 * 1024);
        if (usrsctp_setsockopt(socket, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0) {
            fail(fmt::format("SCTP send buffer for a {}-byte message: {}", message,
                             std::strerror(errno)));
            return false;
        }
        send_buffer = message + 64 * 1024;
        return true;
    }

    void tick() {
        std::uint64_t now = loop.now_ms();
        if (now > g_last_tick) {
            usrsctp_handle_timers(static_cast<std::uint32_t>(now - g_last_tick));
            g_last_tick = now;
        }
        dispatch();
    }
};

namespace {

int conn_output(void* address, void* buffer, size_t length, uint8_t, uint8_t) {
    auto* impl = static_cast<SctpAssociation::Impl*>(address);
    impl->callbacks.send_packet(std::string_view(static_cast<const char*>(buffer), length));
    return 0;
}

} // namespace

SctpAssociation::SctpAssociation(core::Loop& loop, std::uint16_t local_port,
                                 std::uint16_t remote_port, SctpCallbacks callbacks)
    : m_impl(std::make_unique<Impl>(loop, local_port, remote_port, std::move(callbacks))) {
    acquire_usrsctp();
}

SctpAssociation::~SctpAssociation() {
    struct sctpstat stat {};
    usrsctp_get_stat(&stat);
    core::log_debug("webrtc: SCTP retransmitted {} DATA chunks, {} T3 timeouts, {} SACK timers, "
                    "{} duplicates received",
                    stat.sctps_sendretransdata, stat.sctps_timodata, stat.sctps_timosack,
                    stat.sctps_recvdupdata);
    if (m_impl->flush_hook != 0) {
        m_impl->loop.remove_before_poll_hook(m_impl->flush_hook);
    }
    if (m_impl->socket != nullptr) {
        usrsctp_close(m_impl->socket);
    }
    if (m_impl->registered) {
        usrsctp_deregister_address(m_impl.get());
    }
    release_usrsctp();
}

bool SctpAssociation::start(std::string& error) {
    Impl& impl = *m_impl;
    usrsctp_register_address(&impl);
    impl.registered = true;
    // No receive or send-space callbacks: dispatch() reads and retries after each call.
    impl.socket = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, nullptr, nullptr, 0, nullptr);
    if (impl.socket == nullptr) {
        error = fmt::format("usrsctp_socket: {}", std::strerror(errno));
        return false;
    }
    auto set = [&impl, &error](int level, int option, const void* value, socklen_t size,
                               const char* name) {
        if (usrsctp_setsockopt(impl.socket, level, option, value, size) != 0) {
            error = fmt::format("SCTP option {}: {}", name, std::strerror(errno));
            return false;
        }
        return true;
    };
    usrsctp_set_non_blocking(impl.socket, 1);
    impl.flush_hook = impl.loop.add_before_poll_hook([&impl] {
        if (!impl.queue.empty() && !impl.failed) {
            impl.dispatch();
        }
    });
    // Closing aborts: by then both ends have reset the channel's streams (or failed).
    struct linger linger_option {
        1, 0
    };
    int on = 1;
    int buffer = k_send_buffer;
    struct sctp_assoc_value reset_streams {};
    reset_streams.assoc_id = SCTP_ALL_ASSOC;
    reset_streams.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
    // RFC 8831 section 6.2: up to 65535 streams; a few are plenty for one channel per
    // Connection, and the peer's count bounds ours anyway.
    // A message larger than the receive buffer could never be completed there: the window
    // would close on its first megabyte. Partial delivery (RFC 6458 section 8.1.21) hands it
    // up in pieces, joined in read_available(), so messages of any size up to --max-message
    // arrive.
    int partial_delivery = k_partial_delivery_point;
    // RFC 6458 section 8.1.20, level 0: no interleaving of a partially delivered message with
    // anything else of the association (see read_available()).
    int interleave = 0;
    struct sctp_initmsg init {};
    init.sinit_num_ostreams = 1024;
    init.sinit_max_instreams = 1024;
    if (!set(SOL_SOCKET, SO_LINGER, &linger_option, sizeof linger_option, "SO_LINGER") ||
        !set(SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer, "SO_SNDBUF") ||
        !set(SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer, "SO_RCVBUF") ||
        !set(IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &reset_streams, sizeof reset_streams,
             "SCTP_ENABLE_STREAM_RESET") ||
        !set(IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on, "SCTP_RECVRCVINFO") ||
        !set(IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on, "SCTP_NODELAY") ||
        !set(IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init, "SCTP_INITMSG") ||
        !set(IPPROTO_SCTP, SCTP_PARTIAL_DELIVERY_POINT, &partial_delivery, sizeof partial_delivery,
             "SCTP_PARTIAL_DELIVERY_POINT") ||
        !set(IPPROTO_SCTP, SCTP_FRAGMENT_INTERLEAVE, &interleave, sizeof interleave,
             "SCTP_FRAGMENT_INTERLEAVE")) {
        return false;
    }
    for (int type : {SCTP_ASSOC_CHANGE, SCTP_SENDER_DRY_EVENT, SCTP_STREAM_RESET_EVENT,
                     SCTP_PARTIAL_DELIVERY_EVENT}) {
        struct sctp_event event {};
        event.se_assoc_id = SCTP_ALL_ASSOC;
        event.se_on = 1;
        event.se_type = static_cast<std::uint16_t>(type);
        if (!set(IPPROTO_SCTP, SCTP_EVENT, &event, sizeof event, "SCTP_EVENT")) {
            return false;
        }
    }
    struct sockaddr_conn local {};
    local.sconn_family = AF_CONN;
    local.sconn_port = htons(impl.local_port);
    local.sconn_addr = &impl;
    if (usrsctp_bind(impl.socket, reinterpret_cast<struct sockaddr*>(&local), sizeof local) != 0) {
        error = fmt::format("usrsctp_bind: {}", std::strerror(errno));
        return false;
    }
    struct sockaddr_conn remote = local;
    remote.sconn_port = htons(impl.remote_port);
    if (!g_clock_started) {
        g_clock_started = true;
        g_last_tick = impl.loop.now_ms();
    }
    impl.timer.start(
        k_timer_tick, [&impl] { impl.tick(); }, k_timer_tick);
    int rc =
        usrsctp_connect(impl.socket, reinterpret_cast<struct sockaddr*>(&remote), sizeof remote);
    if (rc != 0 && errno != EINPROGRESS) {
        error = fmt::format("usrsctp_connect: {}", std::strerror(errno));
        return false;
    }
    // The path MTU is fixed, not discovered (RFC 8261 section 5: DTLS below hides it).
    struct sctp_paddrparams params {};
    std::memcpy(&params.spp_address, &remote, sizeof remote);
    params.spp_flags = SPP_PMTUD_DISABLE;
    params.spp_pathmtu = k_sctp_mtu;
    if (!set(IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &params, sizeof params,
             "SCTP_PEER_ADDR_PARAMS")) {
        return false;
    }
    impl.dispatch();
    return true;
}

void SctpAssociation::receive_packet(std::string_view packet) {
    Impl& impl = *m_impl;
    if (impl.failed) {
        return;
    }
    usrsctp_conninput(&impl, packet.data(), packet.size(), 0);
    impl.dispatch();
}

bool SctpAssociation::open_channel(std::uint16_t stream, const std::string& label,
                                   const std::string& protocol,
                                   const ChannelParameters& parameters) {
    Impl& impl = *m_impl;
    auto open = proto::format_dcep_open(proto::DataChannelOpen{parameters, 0, label, protocol});
    if (impl.failed || !open) {
        return false; // a label or protocol longer than DATA_CHANNEL_OPEN's length fields say
    }
    auto& channel = impl.channels[stream];
    channel.awaiting_ack = true;
    channel.label = label;
    channel.protocol = protocol;
    channel.parameters = parameters;
    impl.enqueue(stream, k_ppid_dcep, std::move(*open));
    impl.dispatch();
    return !impl.failed;
}

bool SctpAssociation::send(std::uint16_t stream, std::string_view payload, bool binary) {
    Impl& impl = *m_impl;
    auto it = impl.channels.find(stream);
    if (impl.failed || it == impl.channels.end() || it->second.closing) {
        return false;
    }
    if (payload.empty()) {
        impl.enqueue(stream, binary ? k_ppid_binary_empty : k_ppid_string_empty,
                     std::string(1, '\0'));
    } else {
        impl.enqueue(stream, binary ? k_ppid_binary : k_ppid_string, std::string(payload));
    }
    // Not handed to usrsctp yet: the flush hook does it once the loop has nothing else to
    // run, with every message queued in this turn (a stdin chunk holds a thousand lines).
    return true;
}

std::size_t SctpAssociation::buffered_bytes() const {
    return m_impl->queued_bytes;
}

void SctpAssociation::close_channel(std::uint16_t stream) {
    Impl& impl = *m_impl;
    auto it = impl.channels.find(stream);
    if (impl.failed || it == impl.channels.end() || it->second.closing) {
        return;
    }
    it->second.closing = true;
    impl.maybe_reset(stream, it->second);
    impl.dispatch();
}

} // namespace rtx::transport::webrtc
