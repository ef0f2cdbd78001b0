#pragma once

#include "client/until.hpp"
#include "core/duration.hpp"
#include "core/exit_code.hpp"
#include "core/loop.hpp"
#include "output/sink.hpp"
#include "proto/framing.hpp"
#include "transport/reconnecting_connection.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rtx::client {

/// How a stdin message becomes a payload.
enum class InputEncoding { text, binary, base64, hex };
/// How a binary message is printed in text output.
enum class BinaryDisplay { as_is, base64, hex };

/// What a client subcommand does around its connection; filled from the command line.
struct PipeOptions {
    std::string protocol = "tcp";                         ///< For records and messages.
    proto::Framing input_framing = proto::Framing::lines; ///< How stdin becomes messages.
    bool read_stdin = true;                               ///< false: receive only (--no-stdin).
    bool half_close = true;           ///< On stdin EOF, finish sending (TCP FIN, WS close).
    std::uint64_t count = 0;          ///< Exit after this many received messages; 0: no limit.
    core::Duration timeout{0};        ///< Whole-run deadline; 0: none.
    core::Duration idle_timeout{0};   ///< Deadline since the last message either way; 0: none.
    std::size_t high_water = 1 << 20; ///< Pause stdin while this many bytes wait to be sent.
    /// Sent once, in order, instead of reading stdin (`rtx mqtt pub -m`, `-f`); after the
    /// last one sending is finished as at stdin EOF. Used only when read_stdin is false.
    std::vector<std::string> messages;
    /// How each stdin message is sent: as text, or as binary (raw, or decoded from base64 or
    /// hex: `rtx ws --binary/--base64/--hex`).
    InputEncoding input_encoding = InputEncoding::text;
    /// Text output: how a binary message is printed (--raw and --json are unaffected).
    BinaryDisplay binary_display = BinaryDisplay::as_is;
    bool echo = false;          ///< Send every received message back, same kind (--echo).
    bool record_opcode = false; ///< NDJSON records carry "opcode" (WebSocket).
    /// Records left out (`rtx sse --event`, --no-lifecycle): not written, and a message left
    /// out is not counted for --count.
    output::RecordFilter filter;
    /// Stdin lines "/ping [text]" and "/close [code [reason]]" are commands, not messages
    /// (`rtx ws --commands`, as wscat has them for a terminal).
    bool commands = false;
    /// Start reading stdin only once the connection is open (`rtx webrtc`: until then the
    /// terminal may be busy with the signalling, so typed lines are not taken as messages).
    bool stdin_after_open = false;
    /// --until: the first received message this matches ends the run, exit 0; it is not
    /// written (it is the terminator, like an LLM stream's "[DONE]"). Tested before --pick
    /// or --format see the message, and before any filter.
    std::optional<UntilPattern> until;
};

/// One client connection joined to stdin and stdout: the data flow of every client
/// subcommand (stdin -> framer -> Connection.send; Connection -> Record -> Sink -> stdout),
/// with --count, --timeout, --idle-timeout, Ctrl-C and the reconnect wrapper. The protocol
/// is whatever the factory connects. Loop thread only.
class PipeSession final : private transport::Handler {
public:
    PipeSession(core::Loop& loop, PipeOptions options, output::Sink& sink);
    ~PipeSession() override;

    /// Connects through `factory` (wrapped for --reconnect / --preamble), pumps until the
    /// exchange ends, and returns the exit code. Diagnostics go to stderr.
    core::ExitCode run(transport::ReconnectingConnection::Factory factory,
                       transport::ReconnectOptions reconnect);

private:
    void on_open(transport::Connection& connection) override;
    void on_message(transport::Connection& connection, const transport::Message& message) override;
    void on_close(transport::Connection& connection, const transport::CloseInfo& info) override;
    void on_drain(transport::Connection& connection) override;
    void on_head_text(transport::Connection& connection, std::string_view text) override;
    bool on_peer_finished(transport::Connection& connection) override;
    void start_stdin();
    void on_stdin(std::string_view bytes);
    void on_stdin_end(const std::string& error);
    void send_input(std::string_view payload);
    /// A --commands line; false when `payload` is not one (then it is a message).
    bool run_command(std::string_view payload);
    void touch();
    void stop(core::ExitCode code, const std::string& error);
    void write_event(std::string_view event, std::string_view detail);

    core::Loop& m_loop;
    PipeOptions m_options;
    output::Sink& m_sink;
    proto::Framer m_input_framer;
    std::unique_ptr<transport::ReconnectingConnection> m_connection;
    struct Parts; ///< Stdin pump, timers, signals and stdout flush: created by run().
    std::unique_ptr<Parts> m_parts;
    std::uint64_t m_received = 0;
    std::uint64_t m_input_messages = 0;
    std::string m_scratch; ///< Decoded input, encoded binary output.
    std::optional<core::ExitCode> m_exit;
    bool m_stdin_done = false;
    /// The peer half-closed while stdin was still being read: the rest of stdin is sent,
    /// then sending finishes (whatever --no-shutdown says: the peer is done anyway).
    bool m_peer_finished = false;
    /// --commands before the connection opened: that command and every input after it
    /// wait here, in order, until on_open (a ping or close needs an open connection).
    std::vector<std::string> m_held;
    bool m_finish_held = false; ///< Stdin ended while inputs were held.
};

} // namespace rtx::client
