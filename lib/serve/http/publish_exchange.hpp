#pragma once

#include "serve/http/exchange.hpp"
#include "serve/hub.hpp"

#include <cstddef>
#include <string>

namespace rtx::serve::http {

/// Publishes `body` to `topic` (the event name may be empty) and writes the answer: 200
/// {"id","topic","subscribers"}, where subscribers counts the topic's subscriptions on every
/// protocol at that moment. A body that is not UTF-8 is published as binary.
Next publish_and_answer(lws* wsi, Hub& hub, std::string_view topic, std::string event,
                        std::string body, bool close);

/// POST /publish/{topic} with a body: collects the body (at most `max_body` bytes, else 413
/// and the connection is closed), then publishes it as one hub message. Loop thread only.
class PublishExchange final : public Exchange {
public:
    PublishExchange(lws* wsi, Hub& hub, std::string topic, std::string event, std::size_t max_body);

    Next on_body(std::string_view bytes) override;
    Next on_body_complete() override;
    Next on_writeable() override { return Next::wait; }
    void begin_shutdown() override { m_finishing = true; }

private:
    Hub& m_hub;
    std::string m_topic;
    std::string m_event;
    std::size_t m_max_body;
    std::string m_body;
    bool m_finishing = false;
};

} // namespace rtx::serve::http
