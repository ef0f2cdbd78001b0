// rtx push — Web Push from the command line: `keys` makes a VAPID key pair, `send` encrypts
// messages for a browser's subscription (RFC 8291) and POSTs them to its push service with
// VAPID (RFC 8292) and the RFC 8030 headers.
#include "client/push_sender.hpp"
#include "cmd/command.hpp"
#include "cmd/flag_values.hpp"
#include "cmd/http_options.hpp"
#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/loop.hpp"
#include "core/signals.hpp"
#include "core/stdin_pump.hpp"
#include "proto/framing.hpp"
#include "proto/vapid.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <unistd.h>

namespace rtx::cmd {

namespace {

struct KeysOptions {
    bool json = false;
    bool pem = false;
};

struct SendOptions {
    std::string subscription;
    std::vector<std::string> messages;
    std::string file;
    std::string vapid_key;
    std::string subject;
    std::string vapid_exp = "12h";
    std::uint32_t ttl = 2419200;
    std::string urgency;
    std::string topic;
    std::string receipt;
    std::size_t padding = 0;
    unsigned retry = 0;
    std::size_t parallel = 1;
    std::vector<std::string> headers;
    bool json = false;
    bool insecure = false;
    std::string cacert;
    std::string proxy;
    std::string timeout;
    std::string connect_timeout = "10s";
    bool http1 = false;
    bool http2_prior_knowledge = false;
    std::vector<std::string> resolve;
};

std::string base64url(std::string_view bytes) {
    std::string out;
    core::append_base64url(out, bytes);
    return out;
}

core::ExitCode run_keys(const KeysOptions& options) {
    if (options.json && options.pem) {
        throw core::UsageError("--json and --pem cannot be combined");
    }
    proto::p256::KeyPair pair = proto::p256::generate();
    if (options.pem) {
        std::cout << proto::p256::private_key_pem(pair) << proto::p256::public_key_pem(pair);
    } else if (options.json) {
        // The names `web-push generate-vapid-keys --json` uses.
        nlohmann::json keys = {{"publicKey", base64url(pair.public_key)},
                               {"privateKey", base64url(pair.private_key)}};
        std::cout << keys.dump() << "\n";
    } else {
        std::cout << "Public Key:\n"
                  << base64url(pair.public_key) << "\n\nPrivate Key:\n"
                  << base64url(pair.private_key) << "\n";
    }
    std::cout.flush();
    return std::cout ? core::ExitCode::ok : core::ExitCode::failure;
}

std::string read_file(const std::string& path, std::string_view what) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw core::UsageError(fmt::format("{}: cannot read '{}'", what, path));
    }
    std::ostringstream content;
    content << file.rdbuf();
    return content.str();
}

std::string read_stdin() {
    std::ostringstream content;
    content << std::cin.rdbuf();
    return content.str();
}

/// SUBSCRIPTION: inline JSON, '-' for stdin, or a file.
proto::ece::Subscription load_subscription(const std::string& argument) {
    std::string text;
    if (argument == "-") {
        text = read_stdin();
    } else if (argument.find('{') != std::string::npos) {
        text = argument;
    } else {
        text = read_file(argument, "SUBSCRIPTION");
    }
    auto subscription = proto::ece::parse_subscription(text);
    if (!subscription) {
        throw core::UsageError(subscription.error().message);
    }
    return std::move(subscription.value());
}

/// --vapid-key: a file holding the key, or the key itself (base64url or PEM).
proto::p256::KeyPair load_vapid_key(const std::string& argument) {
    if (argument.empty()) {
        throw core::UsageError("--vapid-key is required (make a pair with 'rtx push keys')");
    }
    std::error_code ignored;
    bool is_file = argument.find("-----BEGIN") == std::string::npos &&
                   std::filesystem::is_regular_file(argument, ignored);
    auto key =
        proto::vapid::parse_private_key(is_file ? read_file(argument, "--vapid-key") : argument);
    if (!key) {
        throw core::UsageError("--vapid-key: " + key.error().message);
    }
    return std::move(key.value());
}

client::PushSendOptions resolve_send(const SendOptions& options) {
    client::PushSendOptions push;
    if (options.subscription == "-" && options.messages.empty() && options.file.empty()) {
        throw core::UsageError("SUBSCRIPTION '-' reads stdin, so the message needs -m or --file");
    }
    if (!options.messages.empty() && !options.file.empty()) {
        throw core::UsageError("-m and --file cannot be combined");
    }
    push.subscription = load_subscription(options.subscription);
    push.vapid_key = load_vapid_key(options.vapid_key);
    if (!options.subject.empty() && options.subject.rfind("mailto:", 0) != 0 &&
        options.subject.rfind("https:", 0) != 0) {
        throw core::UsageError("--subject must be a mailto: or https: URI (RFC 8292 section 2.1)");
    }
    push.subject = options.subject;
    core::Duration lifetime = positive_duration_flag("--vapid-exp", options.vapid_exp);
    if (lifetime > std::chrono::hours(24)) {
        throw core::UsageError("--vapid-exp: at most 24h (RFC 8292 section 2)");
    }
    push.vapid_lifetime = std::max(std::chrono::seconds(1),
                                   std::chrono::duration_cast<std::chrono::seconds>(lifetime));
    push.ttl = options.ttl;
    push.urgency = options.urgency;
    // RFC 8030 section 5.4: at most 32 characters of the URL- and filename-safe base64 set.
    if (options.topic.size() > 32 ||
        options.topic.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789-_") != std::string::npos) {
        throw core::UsageError(
            "--topic: at most 32 characters of A-Z a-z 0-9 - _ (RFC 8030 section 5.4)");
    }
    push.topic = options.topic;
    if (!options.receipt.empty() && options.receipt.rfind("http://", 0) != 0 &&
        options.receipt.rfind("https://", 0) != 0) {
        throw core::UsageError("--receipt: the receipt subscription's http:// or https:// URL "
                               "(RFC 8030 section 5.1)");
    }
    if (options.receipt.find_first_of("\r\n") != std::string::npos) {
        throw core::UsageError("--receipt: one line");
    }
    push.receipt = options.receipt;
    push.padding = options.padding;
    push.retries = options.retry;
    push.parallel = options.parallel;
    auto& request = push.request;
    for (const auto& header : options.headers) {
        if (header.find(':') == std::string::npos) {
            throw core::UsageError(fmt::format("-H '{}': expected 'Name: value'", header));
        }
    }
    request.headers = options.headers;
    request.proxy = options.proxy;
    request.http2 = !options.http1;
    if (options.http1 && options.http2_prior_knowledge) {
        throw core::UsageError("--http1.1 and --http2-prior-knowledge cannot be combined");
    }
    request.http2_prior_knowledge = options.http2_prior_knowledge;
    check_resolve(options.resolve);
    request.resolve = options.resolve;
    request.tls.insecure = options.insecure;
    request.tls.ca_file = options.cacert;
    request.timeout = duration_flag("--timeout", options.timeout);
    request.connect_timeout = positive_duration_flag("--connect-timeout", options.connect_timeout);
    request.show_headers = core::log_level() >= core::LogLevel::verbose;
    return push;
}

core::ExitCode run_send(const SendOptions& options) {
    client::PushSendOptions push = resolve_send(options);
    std::vector<std::string> messages = options.messages;
    if (!options.file.empty()) {
        messages.push_back(read_file(options.file, "--file"));
    }
    const bool from_stdin = messages.empty();

    core::Loop loop;
    transport::http::CurlMulti multi(loop);
    output::Sink sink(options.json ? output::Format::ndjson : output::Format::text);
    std::unique_ptr<core::StdinPump> pump;
    bool input_done = !from_stdin;
    int signal_received = 0;
    // Input errors (a line over the limit) stop the run before anything else is sent.
    std::optional<core::Error> input_error;
    bool running = false;

    client::PushSender sender(multi, std::move(push), sink, [&] {
        if (sender.failed()) {
            if (pump) {
                pump->stop();
            }
            loop.stop();
        } else if (input_done) {
            loop.stop();
        } else if (pump) {
            pump->resume();
        }
    });
    auto queue = [&](std::string_view message) {
        if (input_error) {
            return;
        }
        auto queued = sender.push(message);
        if (!queued) {
            input_error = queued.error();
            if (pump) {
                pump->stop();
            }
            // Not before run(): a stop flag set then would make the Loop's destructor skip
            // the run that closes its handles.
            if (running) {
                loop.stop();
            }
        }
    };
    core::SignalWatcher signals(loop, [&](int signum) {
        signal_received = signum;
        if (pump) {
            pump->stop();
        }
        loop.stop();
    });

    // A line longer than any push can hold is refused by the encryptor, so the framer need
    // not hold more than a little past that.
    proto::Framer framer(proto::Framing::lines, 64 * 1024);
    const proto::Framer::Emit emit = [&](std::string_view line) {
        queue(line);
    };
    if (from_stdin) {
        pump = std::make_unique<core::StdinPump>(
            loop, STDIN_FILENO,
            [&](std::string_view bytes) {
                if (!framer.feed(bytes, emit)) {
                    input_error =
                        core::Error{core::ExitCode::too_large,
                                    "stdin: a line over 64 KiB (a push holds 3993 octets)"};
                    pump->stop();
                    loop.stop();
                    return;
                }
                // Encrypting is quick, sending is not: read on while the backlog is short.
                if (sender.pending() > 256) {
                    pump->pause();
                }
            },
            [&](const std::string& error) {
                if (!error.empty()) {
                    input_error = core::Error{core::ExitCode::failure, "stdin: " + error};
                    loop.stop();
                    return;
                }
                framer.finish(emit);
                input_done = true;
                if (sender.pending() == 0) {
                    loop.stop();
                }
            });
        pump->start();
    } else {
        for (const auto& message : messages) {
            queue(message);
        }
    }
    if (!input_error && (from_stdin || sender.pending() > 0)) {
        running = true;
        loop.run();
    }
    if (pump) {
        pump->stop();
    }
    sink.flush();
    if (signal_received != 0) {
        return static_cast<core::ExitCode>(core::exit_status_for_signal(signal_received));
    }
    if (input_error) {
        core::log_error("{}", input_error->message);
        return input_error->code;
    }
    if (sender.failed()) {
        core::log_error("{}", sender.error());
        return sender.result();
    }
    if (sink.broken() && !sink.reader_gone()) {
        core::log_error("stdout: {}", sink.error());
        return core::ExitCode::failure;
    }
    return core::ExitCode::ok;
}

} // namespace

Runner setup_push(CLI::App& parent, std::string_view name, std::string_view summary) {
    auto keys = std::make_shared<KeysOptions>();
    auto send = std::make_shared<SendOptions>();
    CLI::App* app = parent.add_subcommand(std::string(name), std::string(summary));
    app->require_subcommand(0, 1);
    app->footer(R"(Examples:
  rtx push keys --json > vapid.json
  rtx push send subscription.json --vapid-key vapid.key --subject mailto:me@example.org -m hi

See 'rtx push keys --help', 'rtx push send --help' and rtx-push(1).)");

    CLI::App* k = app->add_subcommand("keys", "Make a VAPID key pair (P-256), as base64url");
    k->add_flag("--json", keys->json, R"(One JSON object: {"publicKey": ..., "privateKey": ...})");
    k->add_flag("--pem", keys->pem, "The private key as PKCS#8 PEM, then the public key as PEM");
    k->footer(R"(Prints the public key (65 octets, uncompressed) and the private key (32 octets) in
base64url, as 'web-push generate-vapid-keys' does. The public key is the browser's
applicationServerKey; keep the private key for 'rtx push send --vapid-key'.

Examples:
  rtx push keys
  rtx push keys --json | jq -r .privateKey > vapid.key
  rtx push keys --pem > vapid.pem)");

    CLI::App* s = app->add_subcommand("send", "Encrypt and send messages to a push subscription");
    s->add_option("subscription", send->subscription,
                  "PushSubscription JSON: a file, '-' for stdin, or the JSON itself")
        ->required();
    const char* g = "Message";
    s->add_option("-m,--message", send->messages, "Send this text (repeatable: one push each)")
        ->group(g);
    s->add_option("-f,--file", send->file, "Send the whole file as one push")->group(g);
    s->add_option("--padding", send->padding, "Add this many zero octets before encrypting")
        ->group(g);
    g = "Web Push";
    s->add_option("--vapid-key", send->vapid_key,
                  "VAPID private key: a file, base64url or PEM (required)")
        ->group(g);
    s->add_option("--subject", send->subject, "VAPID contact: mailto:... or https://...")->group(g);
    s->add_option("--vapid-exp", send->vapid_exp, "VAPID token lifetime, at most 24h")
        ->capture_default_str()
        ->group(g);
    s->add_option("--ttl", send->ttl, "Seconds the service keeps an undelivered message")
        ->capture_default_str()
        ->group(g);
    s->add_option("--urgency", send->urgency, "very-low, low, normal or high")
        ->check(CLI::IsMember({"very-low", "low", "normal", "high"}))
        ->group(g);
    s->add_option("--topic", send->topic, "Replace a pending message with this topic")->group(g);
    s->add_option("--receipt", send->receipt,
                  "Ask for a delivery receipt at this receipt subscription URL (answer: 202)")
        ->group(g);
    s->add_option("--retry", send->retry,
                  "Resend up to N times after 429 or 5xx, waiting Retry-After")
        ->group(g);
    s->add_option("--parallel", send->parallel,
                  "Keep up to N pushes in flight (HTTP/2: streams on one connection)")
        ->check(CLI::Range(1, 100))
        ->capture_default_str()
        ->group(g);
    g = "HTTP";
    s->add_option("-H,--header", send->headers, "Extra request header 'Name: value' (repeatable)")
        ->group(g);
    s->add_option("--proxy", send->proxy, "Proxy URL (http://, socks5h://, ...)")->group(g);
    s->add_flag("--http1.1", send->http1, "Use HTTP/1.1 only (default: HTTP/2 when offered)")
        ->group(g);
    s->add_flag("--http2-prior-knowledge", send->http2_prior_knowledge,
                "Speak HTTP/2 from the first byte, without Upgrade (h2c; curl's flag)")
        ->group(g);
    s->add_option("--resolve", send->resolve,
                  "HOST:PORT:ADDR: connect HOST:PORT to ADDR, no DNS (repeatable)")
        ->group(g);
    s->add_option("--timeout", send->timeout, "Give up on a push after this long (e.g. 10s)")
        ->group(g);
    s->add_option("--connect-timeout", send->connect_timeout, "Give up connecting after this long")
        ->capture_default_str()
        ->group(g);
    s->add_flag("-k,--insecure", send->insecure, "Do not verify the server certificate")
        ->group("TLS");
    s->add_option("--cacert", send->cacert, "Trust the CA certificates in this PEM file")
        ->group("TLS");
    s->add_flag("--json", send->json, "One JSON record per push: status, reason, location, body")
        ->group("Output");
    s->footer(
        R"footer(Each message is encrypted for the subscription's keys (aes128gcm, RFC 8291) with a
fresh key and salt, and POSTed to its endpoint with a VAPID token (RFC 8292) and TTL,
Urgency and Topic (RFC 8030). Without -m or --file, every stdin line is one push, sent one
after another on one keep-alive connection; --parallel N keeps N in flight (as HTTP/2
streams on that connection, or N HTTP/1.1 connections) and still prints in input order.
Prints one line per push: the status and the message's Location. Stops at the first failure.

Examples:
  rtx push keys --json > vapid.json                 # once; the public key goes to the page
  rtx push send sub.json --vapid-key "$(jq -r .privateKey vapid.json)" \
      --subject mailto:me@example.org -m 'Hello'
  tail -f events.log | rtx push send sub.json --vapid-key vapid.key --ttl 60
  seq 1000 | rtx push send sub.json --vapid-key vapid.key --parallel 8 \
      --http2-prior-knowledge          # 8 streams on one h2c connection (rtx serve)
  rtx push send '{"endpoint":"http://127.0.0.1:8080/push/ab12","keys":{...}}' \
      --vapid-key vapid.pem --urgency high --topic news --retry 3 --json -m 'Breaking'
  curl -si -X POST http://127.0.0.1:8080/push/receipts | grep -i ^location   # rtx serve
  rtx push send sub.json --vapid-key vapid.key -m hi \
      --receipt http://127.0.0.1:8080/push/receipts/ID    # 202; receipts at that URL

Exit status: 0 sent (201, or 202 with --receipt), 2 usage or a bad subscription/key,
3 connect failed, 4 TLS, 5 timeout, 8 other HTTP status (401/403: VAPID refused),
14 subscription gone (404/410: delete it), 15 message too large (over 3993 octets, or 413),
16 429 Too Many Requests, 130 Ctrl-C (rtx(1) has the full table).)footer");

    return [keys, send, k, s]() {
        if (k->parsed()) {
            return run_keys(*keys);
        }
        if (s->parsed()) {
            return run_send(*send);
        }
        throw core::UsageError("rtx push needs a subcommand: keys or send (see 'rtx push --help')");
    };
}

} // namespace rtx::cmd
