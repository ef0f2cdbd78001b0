#pragma once

#include "core/loop.hpp"
#include "serve/http/exchange.hpp"
#include "serve/replay_player.hpp"

#include <libwebsockets.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rtx::serve::http {

/// A POST to an sse or stream --route whose topic is in a --replay file: the way an LLM API
/// answers a request with a stream. Reads (and drops) the request body, then streams the
/// topic's recording to this client alone, from its first record, at its recorded spacing
/// (--replay-speed; --replay-loop does not apply: one answer, one pass), and ends the
/// response after the last record. Every POST gets the whole recording, as every request to
/// an LLM mock wants its whole answer. Loop thread only.
class ReplayExchange final : public Exchange {
public:
    enum class Format { sse, text, ndjson };

    ReplayExchange(lws* wsi, core::Loop& loop,
                   std::shared_ptr<const std::vector<ReplayRecord>> records, double speed,
                   Format format, std::size_t max_body);

    /// Writes the head and starts playing: from the request callback when the POST has no
    /// body, else from on_body_complete(). False when the connection failed.
    bool start();

    Next on_body(std::string_view bytes) override;
    Next on_body_complete() override;
    Next on_writeable() override;
    void begin_shutdown() override;

private:
    void emit(const ReplayRecord& record);
    void wake();

    Format m_format;
    std::size_t m_max_body;
    std::size_t m_body_bytes = 0;
    ReplayPlayer m_player;
    std::uint64_t m_next_id = 1;
    std::string m_pending; ///< Formatted events not yet written.
    bool m_wake_pending = false;
    bool m_finishing = false;
    bool m_started = false; ///< The head went out.
};

} // namespace rtx::serve::http
