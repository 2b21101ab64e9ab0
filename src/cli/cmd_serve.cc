// `kms-proxy serve`, `kms-proxy run -- CMD...` and `kms-proxy check` (they share the flags).
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/daemon.h"
#include "app/logging.h"
#include "app/preflight.h"
#include "cli/commands.h"
#include "config/config.h"
#include "config/overrides.h"
#include "supervisor/supervisor.h"

namespace kp::cli {

namespace {

struct ServeFlags {
  std::string config_file;
  config::FlagOverrides o;
  std::string listen, region, vsock, attestation, nsm_device, sim_pki, measurements, max_age, attest_timeout;
  std::string log_format, log_level, metrics_listen, sim_latency;
  std::string port;
  std::string max_connections;
  std::string threads;
  std::string busy_poll_us;
  std::string egress_proxy_port;
  std::string credential_sources;
  std::vector<std::string> command;  // run only
  std::vector<std::string> key_ids;  // check only
  std::string check_timeout;         // check only
  std::vector<std::string> check_context;  // check only: K=V
  std::vector<std::string> check_ops;      // check only
  bool check_json = false;                 // check only
};

void add_common_flags(CLI::App& sub, ServeFlags& f) {
  sub.add_option("--config", f.config_file, "Enclaver manifest (enclaver.yaml); flags override it");
  sub.add_option("--listen", f.listen, "HOST[:PORT] to listen on, loopback only (default 127.0.0.1:9999)");
  sub.add_option("--port", f.port, "Port to listen on (0 = any free port)");
  sub.add_option("--region", f.region,
                 "Region when a request carries no SigV4 scope (default: AWS_REGION, AWS_DEFAULT_REGION)");
  sub.add_option("--endpoint", f.o.endpoints,
                 "Per-region KMS endpoint REGION=[https://]HOST[:PORT] (http:// only for loopback); repeatable");
  sub.add_option("--ca-file", f.o.ca_files, "Extra PEM CA bundle trusted for the KMS endpoint; repeatable");
  sub.add_option("--vsock", f.vsock, "Reach KMS through AF_VSOCK CID:PORT (e.g. AWS vsock-proxy on 3:8000)");
  sub.add_option("--egress-proxy-port", f.egress_proxy_port,
                 "Tunnel to KMS with HTTP CONNECT through 127.0.0.1:PORT");
  sub.add_option("--credential-sources", f.credential_sources,
                 "Where the proxy's own credentials may come from, in order: a comma-separated list of env, "
                 "profile, container, imds (default: all four, in that order)");
  sub.add_option("--attestation", f.attestation,
                 "nsm (default, needs /dev/nsm) | simulated (development) | none (no Recipient)");
  sub.add_option("--nsm-device", f.nsm_device, "NSM device path (default /dev/nsm)");
  sub.add_option("--sim-pki-dir,--sim-pki", f.sim_pki,
                 "Development PKI for --attestation simulated (create with: kms-proxy sim-pki init DIR)");
  sub.add_option("--pcr", f.o.pcrs, "PCR N=HEX (96 hex digits): the simulated NSM reports it; with nsm, checked at startup; repeatable");
  sub.add_option("--measurements", f.measurements,
                 "nitro-cli measurements JSON (build-enclave/describe-eif output): the PCRs, as --pcr");
  sub.add_option("--attestation-max-age", f.max_age,
                 "Reuse an attestation document for up to this long (e.g. 5s; default 0 = fresh per request)");
  sub.add_option("--attestation-timeout", f.attest_timeout,
                 "Longest a request waits for its attestation document before a 503 (default 10s)");
  sub.add_option("--log-format", f.log_format, "text (default) | json (one JSON object per line, key=value pairs as fields)");
  sub.add_option("--log-level", f.log_level, "trace | debug | info | warn | error | off");
  sub.add_option("--metrics-listen", f.metrics_listen, "HOST:PORT for /metrics (Prometheus), /healthz, /readyz; port 0 = any free port (logged)");
  sub.add_option("--max-connections", f.max_connections, "Concurrent client connections (default 256, 1..1000000)");
  sub.add_option("--threads", f.threads, "I/O threads (default 0: one per core)");
  sub.add_option("--busy-poll-us", f.busy_poll_us,
                 "Keep an idle I/O thread polling this many microseconds before it sleeps: lower latency "
                 "for more CPU (default 0 = off, at most 10000)");
  sub.add_option("--sim-nsm-latency", f.sim_latency, "Benchmarks: artificial simulated NSM latency")
      ->group("");
}

void fill_overrides(CLI::App& sub, ServeFlags& f) {
  auto given = [&](const char* name) { return sub.count(name) > 0; };
  if (given("--listen")) f.o.listen = f.listen;
  if (given("--port")) f.o.port = f.port;
  if (given("--region")) f.o.region = f.region;
  if (given("--vsock")) f.o.vsock = f.vsock;
  if (given("--egress-proxy-port")) f.o.egress_proxy_port = f.egress_proxy_port;
  if (given("--credential-sources")) f.o.credential_sources = f.credential_sources;
  if (given("--attestation")) f.o.attestation_mode = f.attestation;
  if (given("--nsm-device")) f.o.nsm_device = f.nsm_device;
  if (given("--sim-pki-dir")) f.o.sim_pki_dir = f.sim_pki;
  if (given("--measurements")) f.o.measurements_file = f.measurements;
  if (given("--attestation-max-age")) f.o.attestation_max_age = f.max_age;
  if (given("--attestation-timeout")) f.o.attestation_timeout = f.attest_timeout;
  if (given("--log-format")) f.o.log_format = f.log_format;
  if (given("--log-level")) f.o.log_level = f.log_level;
  if (given("--metrics-listen")) f.o.metrics_listen = f.metrics_listen;
  if (given("--max-connections")) f.o.max_connections = f.max_connections;
  if (given("--threads")) f.o.threads = f.threads;
  if (given("--busy-poll-us")) f.o.busy_poll_us = f.busy_poll_us;
}

// Loads config + flags, reports every problem (also into `*problems` when
// given); nullopt on errors.
// `flag_errors`: "--flag: message" lines about flags the config module does
// not read (a subcommand's own); they are reported with the configuration's.
std::optional<config::Config> load(CLI::App& sub, ServeFlags& f, const std::vector<std::string>& flag_errors,
                                   std::string* problems) {
  fill_overrides(sub, f);
  std::optional<std::filesystem::path> file;
  if (!f.config_file.empty()) {
    file = f.config_file;
  }
  auto loaded = config::build_config(file, f.o, config::process_env());
  std::string text = config::format_diagnostics(loaded.diagnostics);
  for (const auto& e : flag_errors) {
    text += e + "\n";
  }
  std::cerr << text;
  if (problems != nullptr) {
    *problems = text;
  }
  if (!loaded.ok() || !flag_errors.empty()) {
    std::cerr << "kms-proxy: configuration errors (nothing was started)\n";
    return std::nullopt;
  }
  return std::move(loaded.config);
}

app::DaemonExtras extras_from(ServeFlags& f, std::vector<std::string>& flag_errors) {
  app::DaemonExtras x;
  if (!f.sim_latency.empty()) {
    auto d = config::parse_duration(f.sim_latency);
    if (!d) {
      flag_errors.push_back("--sim-nsm-latency: '" + config::value_for_message(f.sim_latency) +
                            "' is not a duration (e.g. 5ms)");
    } else {
      x.sim_nsm_latency = *d;
    }
  }
  return x;
}

// Every startup problem, one per line. In JSON log mode each problem is one
// JSON log line, so the output stays machine-readable.
int report_startup_failure(const config::Config& cfg, const Error& e, bool run_mode) {
  const bool json = cfg.log.format == config::LogFormat::kJson;
  const char* what = run_mode ? "kms-proxy: cannot start the proxy, so the command was not started:"
                              : "kms-proxy: cannot start:";
  if (!json) {
    std::cerr << what << "\n";
  }
  std::string_view msg = e.message;
  while (!msg.empty()) {
    const auto nl = msg.find('\n');
    const std::string_view line = msg.substr(0, nl);
    if (json) {
      spdlog::error("cannot start{}: {}", run_mode ? " (command not started)" : "", line);
    } else {
      std::cerr << "  - " << line << "\n";
    }
    msg = nl == std::string_view::npos ? std::string_view{} : msg.substr(nl + 1);
  }
  return 1;
}

struct Prepared {
  config::Config cfg;
  app::DaemonExtras extras;
};

// Config, extras and logging, shared by serve and run; nullopt = usage error.
std::optional<Prepared> prepare(CLI::App& sub, ServeFlags& f, std::vector<std::string> flag_errors = {},
                                std::string* problems = nullptr) {
  auto extras = extras_from(f, flag_errors);
  auto cfg = load(sub, f, flag_errors, problems);
  if (!cfg) {
    return std::nullopt;
  }
  app::setup_logging(cfg->log);
  return Prepared{std::move(*cfg), std::move(extras)};
}

int serve(CLI::App& sub, ServeFlags& f) {
  auto prep = prepare(sub, f);
  if (!prep) {
    return 2;
  }
  // Block the termination signals before any thread starts, then wait for
  // them synchronously in this thread (the I/O threads inherit the mask).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto daemon = app::Daemon::create(prep->cfg, std::move(prep->extras));
  if (!daemon) {
    return report_startup_failure(prep->cfg, daemon.error(), false);
  }
  if (auto port = (*daemon)->start(); !port) {
    return report_startup_failure(prep->cfg, port.error(), false);
  }
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {}: shutting down", sig);
  const bool drained = (*daemon)->stop();
  // Requests are drained and the threads stopped. Exit now rather than run
  // destructors: one would wait for an NSM call still blocked in the driver
  // (up to its 2-minute timeout). Process memory, keys included, goes with us.
  spdlog::default_logger()->flush();
  std::_Exit(drained ? 0 : 1);
}

int run(CLI::App& sub, ServeFlags& f) {
  if (f.command.empty()) {
    std::cerr << "kms-proxy run: missing command (usage: kms-proxy run [options] -- CMD [ARGS...])\n";
    return 2;
  }
  auto prep = prepare(sub, f);
  if (!prep) {
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  supervisor::Options so;
  if (prep->cfg.log.format == config::LogFormat::kJson) {
    so.report = [](std::string_view line) { spdlog::error("{}", line); };  // keep stderr JSON-only
  }
  auto sup = supervisor::Supervisor::create(std::move(so));
  if (!sup) {
    std::cerr << "kms-proxy: " << sup.error().message << "\n";
    return 1;
  }
  auto daemon = app::Daemon::create(prep->cfg, std::move(prep->extras));
  if (!daemon) {
    return report_startup_failure(prep->cfg, daemon.error(), true);
  }
  auto port = (*daemon)->start();
  if (!port) {
    return report_startup_failure(prep->cfg, port.error(), true);
  }
  supervisor::ChildSpec spec;
  spec.argv = f.command;
  spec.env = config::child_environment(prep->cfg, *port);
  const int code = (*sup)->run(spec);
  spdlog::info("command exited with status {}; stopping the proxy", code);
  (*daemon)->stop();
  spdlog::default_logger()->flush();
  std::cout.flush();
  std::_Exit(code);  // as in serve: never wait for a blocked NSM call
}

// One failed check line, as `check --json` prints every outcome.
void print_json_failure(std::string_view subject, std::string detail) {
  app::PreflightReport r;
  while (!detail.empty() && detail.back() == '\n') {
    detail.pop_back();
  }
  r.lines.push_back(app::CheckLine{app::CheckStatus::kFail, std::string(subject), std::move(detail), ""});
  std::cout << app::report_json(r) << "\n";
  std::cout.flush();
}

int check(CLI::App& sub, ServeFlags& f) {
  if (sub.count("--log-level") == 0) {
    f.log_level = "warn";  // the report is the output; the proxy's own lines only when they matter
    f.o.log_level = f.log_level;
  }
  // With --json every outcome is one JSON document on stdout, failures to
  // get as far as the checks included (the text also goes to stderr).
  const auto json_failure = [&](std::string_view subject, std::string detail, int code) {
    if (f.check_json) {
      print_json_failure(subject, std::move(detail));
    }
    return code;
  };
  // check's own flags first, so their problems are reported with the
  // configuration's (all at once, one trailer).
  app::PreflightOptions opts;
  opts.key_ids = f.key_ids;
  std::vector<std::string> flag_errors;
  for (const auto& op : f.check_ops) {
    if (!app::is_checkable_operation(op)) {
      flag_errors.push_back("--operation: '" + config::value_for_message(op) +
                            "' is not one of Decrypt, GenerateDataKey, GenerateDataKeyPair, DeriveSharedSecret");
    }
  }
  if (!f.check_ops.empty()) {
    opts.operations = f.check_ops;
  }
  for (const auto& kv : f.check_context) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      flag_errors.push_back("--encryption-context: '" + config::value_for_message(kv) + "' is not K=V (a non-empty key)");
      continue;
    }
    opts.encryption_context.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!f.check_timeout.empty()) {
    auto d = config::parse_duration(f.check_timeout);
    if (!d || d->count() <= 0) {
      flag_errors.push_back("--timeout: '" + config::value_for_message(f.check_timeout) +
                            "' is not a positive duration (e.g. 30s)");
    } else {
      opts.timeout = *d;
    }
  }
  std::string problems;
  auto prep = prepare(sub, f, std::move(flag_errors), &problems);
  if (!prep) {
    return json_failure("configuration", problems.empty() ? "configuration errors" : problems, 2);
  }
  ::signal(SIGPIPE, SIG_IGN);
  auto print = [&](const app::CheckLine& l) {
    if (f.check_json) {
      return;  // one JSON document at the end
    }
    std::cout << std::string(app::to_string(l.status)) << std::string(6 - app::to_string(l.status).size(), ' ')
              << l.subject << ": " << l.detail << "\n";
    if (!l.hint.empty()) {
      std::cout << "      hint: " << l.hint << "\n";
    }
    std::cout.flush();
  };
  auto report = app::preflight(prep->cfg, std::move(prep->extras), opts, print);
  if (!report) {
    return json_failure("startup", "cannot start: " + report.error().message,
                        report_startup_failure(prep->cfg, report.error(), false));
  }
  std::size_t failed = 0;
  std::size_t warned = 0;
  for (const auto& l : report->lines) {
    failed += l.status == app::CheckStatus::kFail ? 1 : 0;
    warned += l.status == app::CheckStatus::kWarn ? 1 : 0;
  }
  if (f.check_json) {
    std::cout << app::report_json(*report) << "\n";
  } else {
    std::cout << (failed == 0 ? "result: ok" : "result: FAILED") << " (" << report->lines.size() << " checks, "
              << failed << " failed, " << warned << " warnings)\n";
  }
  spdlog::default_logger()->flush();
  std::cout.flush();
  std::_Exit(failed == 0 ? 0 : 1);  // as in serve: never wait for a blocked NSM call
}

}  // namespace

int split_run_command(const CLI::App& app, int argc, const char* const* argv, std::vector<std::string>& command) {
  const CLI::App* run_cmd = argc >= 2 && std::string_view(argv[1]) == "run" ? app.get_subcommand("run") : nullptr;
  if (run_cmd == nullptr) {
    return argc;
  }
  for (int i = 2; i < argc; ++i) {
    const std::string_view word(argv[i]);
    if (word == "--") {
      command.assign(argv + i + 1, argv + argc);
      return i;
    }
    if (word.size() < 2 || word.front() != '-') {
      command.assign(argv + i, argv + argc);
      return i;
    }
    // An option: "--name=value" is one word; "--name value" two, unless
    // it is a flag. An unknown option is one word (CLI11 reports it).
    if (word.find('=') == std::string_view::npos) {
      const CLI::Option* opt = run_cmd->get_option_no_throw(std::string(word));
      if (opt != nullptr && opt->get_items_expected_max() > 0) {
        ++i;
      }
    }
  }
  return argc;
}

Runner add_serve_commands(CLI::App& app, std::shared_ptr<const std::vector<std::string>> run_command) {
  auto flags = std::make_shared<ServeFlags>();
  auto* serve_cmd = app.add_subcommand("serve", "Run the KMS proxy until SIGTERM/SIGINT/SIGHUP");
  serve_cmd->footer(
      "Configuration: the file (--config), then AWS_REGION/AWS_DEFAULT_REGION and https_proxy from\n"
      "the environment, then flags; every problem is reported at once (FILE:LINE: message) and\n"
      "nothing starts (exit 2). Exit status: 0 after a graceful stop (SIGTERM, SIGINT or SIGHUP:\n"
      "no new connections, idle and half-received requests closed, requests in progress get up\n"
      "to 10 s to finish; one still under way then is answered 503 ServiceUnavailable), 1 if the\n"
      "proxy could not start or some request was cut.\n"
      "Credentials (the proxy's own, first source that has them): the environment (AWS_ACCESS_KEY_ID/...),\n"
      "a profile of ~/.aws/credentials or ~/.aws/config, the container endpoint, or the instance role\n"
      "(IMDSv2); --credential-sources (credentials.sources) picks and orders them.\n"
      "Examples:\n"
      "  kms-proxy serve --config /etc/enclaver/enclaver.yaml\n"
      "  kms-proxy serve --config enclaver.yaml --vsock 3:8000 --region us-east-1 \\\n"
      "      --log-format json --metrics-listen 127.0.0.1:9100\n"
      "  kms-proxy sim-pki init ./pki && kms-proxy serve --attestation simulated --sim-pki ./pki \\\n"
      "      --pcr 0=$(printf 'ab%.0s' {1..48}) --region us-east-1 \\\n"
      "      --endpoint us-east-1=http://127.0.0.1:4566   # e.g. kms-emulator");
  add_common_flags(*serve_cmd, *flags);

  auto run_flags = std::make_shared<ServeFlags>();
  auto* run_cmd = app.add_subcommand(
      "run", "Start the proxy, then run CMD with AWS_KMS_ENDPOINT and AWS_ENDPOINT_URL_KMS set");
  run_cmd->footer(
      "CMD gets AWS_KMS_ENDPOINT and AWS_ENDPOINT_URL_KMS = http://127.0.0.1:PORT and, when egress\n"
      "is configured (egress.allow), http(s)_proxy/HTTP(S)_PROXY = http://127.0.0.1:PROXY_PORT/ and\n"
      "no_proxy/NO_PROXY = localhost,127.0.0.1 (as Enclaver's odyn does; plus the listen address if\n"
      "it is another). SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 go to CMD (after\n"
      "SIGTERM, SIGINT or SIGQUIT, SIGKILL if CMD has not exited in 10 s); when CMD exits the proxy\n"
      "stops. While the proxy starts, SIGTERM, SIGINT, SIGHUP or SIGQUIT cancel the start (CMD is\n"
      "not started) and SIGUSR1/SIGUSR2 are dropped. CMD's words (after --, or from the first word\n"
      "that is not an option) reach it verbatim; it inherits the environment and the descriptors\n"
      "run was given, not the proxy's sockets.\n"
      "Exit status: CMD's (128+N if killed by signal N; 127 not found, 126 not executable); 1 if\n"
      "the proxy could not start (CMD is then not started); 2 for usage or configuration errors.\n"
      "Examples:\n"
      "  kms-proxy run --config /etc/enclaver/enclaver.yaml -- python3 /app/main.py\n"
      "  kms-proxy run --attestation simulated --sim-pki ./pki --region us-east-1 \\\n"
      "      --endpoint us-east-1=http://127.0.0.1:4566 -- aws kms generate-random --number-of-bytes 32");
  add_common_flags(*run_cmd, *run_flags);
  // CMD never reaches CLI11 (split_run_command); this positional only names
  // it in --help.
  run_cmd->add_option("command", run_flags->command, "CMD [ARGS...] (after --)");

  auto check_flags = std::make_shared<ServeFlags>();
  auto* check_cmd = app.add_subcommand(
      "check", "Preflight: start the proxy from this configuration and ask KMS whether this enclave gets its keys");
  check_cmd->footer(
      "Starts the proxy exactly as serve would (on a free loopback port, without the metrics\n"
      "listener) and sends through it what an app would: GenerateRandom, which exercises the NSM,\n"
      "the credentials, the route to KMS and KMS's verdict on the attestation document; then, for\n"
      "each --key-id, Decrypt with DryRun (DryRunModifiers IGNORE_CIPHERTEXT): KMS evaluates the key\n"
      "policy, PCR conditions included, for this enclave without decrypting anything (and the\n"
      "same for each --operation GenerateDataKey / GenerateDataKeyPair / DeriveSharedSecret).\n"
      "When the credentials may call DescribeKey, an asymmetric key's Decrypt names its algorithm,\n"
      "a key-agreement key is checked with DeriveSharedSecret (a fresh public key on its curve), and\n"
      "each key is checked only for the --operation values its kind can do (the others are named on\n"
      "its line as not checked; a key that can do none gets its own default).\n"
      "Prints one line per check (ok, warn, FAIL) with a hint for each failure.\n"
      "Exit status: 0 every check passed (warnings allowed), 1 a check failed or the proxy could\n"
      "not start, 2 usage or configuration errors.\n"
      "Examples:\n"
      "  kms-proxy check --config /etc/enclaver/enclaver.yaml \\\n"
      "      --key-id arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\n"
      "  kms-proxy check --attestation simulated --sim-pki ./pki --pcr 0=$(printf 'ab%.0s' {1..48}) \\\n"
      "      --region us-east-1 --endpoint us-east-1=http://127.0.0.1:4566 --key-id alias/app");
  add_common_flags(*check_cmd, *check_flags);
  check_cmd->add_option("--key-id", check_flags->key_ids,
                        "Key to ask about (key id, key ARN, alias name or alias ARN); repeatable");
  check_cmd->add_option("--operation", check_flags->check_ops,
                        "What each key is checked for: Decrypt (default; DeriveSharedSecret for a "
                        "key-agreement key), GenerateDataKey, GenerateDataKeyPair, DeriveSharedSecret; repeatable; "
                        "a key is checked for those its kind can do, when DescribeKey says");
  check_cmd->add_option("--encryption-context", check_flags->check_context,
                        "K=V sent with each key check (for kms:EncryptionContext: conditions); repeatable");
  check_cmd->add_flag("--json", check_flags->check_json,
                      "Print the report as one JSON object ({\"ok\":..,\"checks\":[{status,subject,detail,hint}]})");
  check_cmd->add_option("--timeout", check_flags->check_timeout,
                        "Longest wait for each answer (default 60s)");

  return [serve_cmd, run_cmd, check_cmd, flags, run_flags, check_flags,
          run_command]() -> int {
    if (*serve_cmd) {
      return serve(*serve_cmd, *flags);
    }
    if (*check_cmd) {
      return check(*check_cmd, *check_flags);
    }
    if (*run_cmd) {
      run_flags->command = *run_command;
      return run(*run_cmd, *run_flags);
    }
    return -1;
  };
}

void report_usage_error(int argc, const char* const* argv, std::string_view message) {
  if (argc < 2 || std::string_view(argv[1]) != "check") {
    return;
  }
  for (int i = 2; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    if (std::string_view(argv[i]) == "--json") {
      print_json_failure("usage", std::string(message));
      return;
    }
  }
}

}  // namespace kp::cli
