#pragma once

#include "core/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtx::serve::mqtt {

/// Per-topic access for MQTT clients, from the subset of mosquitto's acl_file format that
/// fits rtx's broker (mosquitto.conf(5), "acl_file"):
///
///     # comment
///     topic read $SYS/#            lines before any `user`: clients without a user name
///     user alice                   the lines up to the next `user` are alice's
///     topic readwrite sensors/#    access: read, write, readwrite (the default) or deny
///     pattern write devices/%c/#   every client; %u is its user name, %c its client id
///
/// A client may publish to a topic when one of its rules with write access matches it, and
/// receives a message (subscriptions are granted) when one with read access matches the
/// message's topic; a matching `deny` rule wins. With an ACL, whatever no rule allows is
/// denied. Pure.
class Acl {
public:
    /// Parses the file's text; `origin` names it in errors. ExitCode::usage with a one-line
    /// message naming the line.
    static core::Result<Acl> parse(std::string_view text, std::string_view origin);

    /// May a client (user name: nullopt when it gave none) publish to `topic`?
    bool can_write(const std::optional<std::string>& user, std::string_view client_id,
                   std::string_view topic) const;
    /// May it receive a message published to `topic`?
    bool can_read(const std::optional<std::string>& user, std::string_view client_id,
                  std::string_view topic) const;
    std::size_t rules() const { return m_rules.size(); }

private:
    enum Access : unsigned { read = 1, write = 2, deny = 4 };
    struct Rule {
        bool pattern = false;            ///< `pattern`: every client, %u/%c substituted.
        std::optional<std::string> user; ///< `topic` under `user NAME`; nullopt: anonymous.
        unsigned access = read | write;
        std::string filter;
    };
    bool allows(const std::optional<std::string>& user, std::string_view client_id,
                std::string_view topic, unsigned wanted) const;

    std::vector<Rule> m_rules;
};

} // namespace rtx::serve::mqtt
