#include "serve/http/publish_exchange.hpp"

#include "core/encoding.hpp"
#include "serve/http/http_format.hpp"

#include <fmt/format.h>

namespace rtx::serve::http {

Next publish_and_answer(lws* wsi, Hub& hub, std::string_view topic, std::string event,
                        std::string body, bool close) {
    const std::size_t subscribers = hub.subscriber_count(topic);
    PublishOptions options;
    options.binary = !core::is_valid_utf8(body);
    options.event = std::move(event);
    options.source = "http";
    auto published = hub.publish(topic, std::move(body), std::move(options));
    Response response;
    if (published) {
        response.content_type = "application/json";
        response.body = publish_body(**published, subscribers);
    } else {
        response = error_response(503, published.error().message);
    }
    response.close = close;
    if (!write_response(wsi, response) || close) {
        return Next::close;
    }
    return Next::done;
}

PublishExchange::PublishExchange(lws* wsi, Hub& hub, std::string topic, std::string event,
                                 std::size_t max_body)
    : Exchange(wsi)
    , m_hub(hub)
    , m_topic(std::move(topic))
    , m_event(std::move(event))
    , m_max_body(max_body) {}

Next PublishExchange::on_body(std::string_view bytes) {
    return collect_body(wsi(), m_body, bytes, m_max_body);
}

Next PublishExchange::on_body_complete() {
    return publish_and_answer(wsi(), m_hub, m_topic, std::move(m_event), std::move(m_body),
                              m_finishing);
}

} // namespace rtx::serve::http
