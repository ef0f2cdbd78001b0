#include "serve/mqtt/acl.hpp"

#include "serve/mqtt/topic_tree.hpp"

#include <fmt/format.h>

namespace rtx::serve::mqtt {

namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\r')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

/// The first word of `text`, removed from it.
std::string_view take_word(std::string_view& text) {
    text = trim(text);
    const std::size_t end = text.find_first_of(" \t");
    const std::string_view word = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : trim(text.substr(end));
    return word;
}

std::string substitute(std::string_view filter, std::string_view user, std::string_view client) {
    std::string out;
    for (std::size_t i = 0; i < filter.size(); ++i) {
        if (filter[i] == '%' && i + 1 < filter.size() &&
            (filter[i + 1] == 'u' || filter[i + 1] == 'c')) {
            out.append(filter[i + 1] == 'u' ? user : client);
            ++i;
        } else {
            out.push_back(filter[i]);
        }
    }
    return out;
}

} // namespace

core::Result<Acl> Acl::parse(std::string_view text, std::string_view origin) {
    Acl acl;
    std::optional<std::string> user;
    std::size_t number = 0;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        ++number;
        line = trim(line);
        if (line.empty() || line.front() == '#') {
            continue;
        }
        auto bad = [&](std::string_view why) {
            return core::Error{core::ExitCode::usage,
                               fmt::format("{} line {}: {}", origin, number, why)};
        };
        const std::string_view keyword = take_word(line);
        if (keyword == "user") {
            if (line.empty()) {
                return bad("user needs a name");
            }
            user = std::string(line); // a user name may hold spaces, as in mosquitto
            continue;
        }
        if (keyword != "topic" && keyword != "pattern") {
            return bad(fmt::format("expected topic, pattern or user, got '{}'", keyword));
        }
        Rule rule;
        rule.pattern = keyword == "pattern";
        rule.user = user;
        std::string_view rest = line;
        std::string_view access = take_word(rest);
        if (access == "read") {
            rule.access = read;
        } else if (access == "write") {
            rule.access = write;
        } else if (access == "readwrite") {
            rule.access = read | write;
        } else if (access == "deny") {
            rule.access = deny;
        } else {
            rest = line; // no access word: readwrite, and the whole rest is the topic
        }
        if (rest.empty()) {
            return bad(fmt::format("{} needs a topic filter", keyword));
        }
        rule.filter = std::string(rest);
        const std::string check = rule.pattern ? substitute(rule.filter, "u", "c") : rule.filter;
        if (!valid_topic_filter(check)) {
            return bad(fmt::format("'{}' is not a topic filter", rule.filter));
        }
        acl.m_rules.push_back(std::move(rule));
    }
    return acl;
}

bool Acl::allows(const std::optional<std::string>& user, std::string_view client_id,
                 std::string_view topic, unsigned wanted) const {
    bool allowed = false;
    for (const Rule& rule : m_rules) {
        bool matches = false;
        if (rule.pattern) {
            // mosquitto skips a pattern whose %u needs a user name the client did not give.
            if (!user && rule.filter.find("%u") != std::string::npos) {
                continue;
            }
            matches = topic_matches(substitute(rule.filter, user.value_or(""), client_id), topic);
        } else if (rule.user == user) {
            matches = topic_matches(rule.filter, topic);
        }
        if (!matches) {
            continue;
        }
        if ((rule.access & deny) != 0) {
            return false;
        }
        allowed = allowed || (rule.access & wanted) != 0;
    }
    return allowed;
}

bool Acl::can_write(const std::optional<std::string>& user, std::string_view client_id,
                    std::string_view topic) const {
    return allows(user, client_id, topic, write);
}

bool Acl::can_read(const std::optional<std::string>& user, std::string_view client_id,
                   std::string_view topic) const {
    return allows(user, client_id, topic, read);
}

} // namespace rtx::serve::mqtt
