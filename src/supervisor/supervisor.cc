#include "supervisor/supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>

extern char** environ;

namespace kp::supervisor {

namespace {

using Clock = std::chrono::steady_clock;

// Event kinds written to the self-pipe with the signal number.
constexpr unsigned char kFromProcess = 0;  // kill(), sigqueue(), ...
constexpr unsigned char kFromKernel = 1;   // SI_KERNEL, e.g. a terminal's ^C
constexpr unsigned char kStopRequest = 2;  // request_stop()

// Forwarded to CMD: the termination signals, and SIGQUIT / SIGUSR1 / SIGUSR2,
// whose default action would otherwise end the proxy and orphan CMD.
constexpr int kHandled[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD};
constexpr std::size_t kNumHandled = sizeof kHandled / sizeof kHandled[0];

// Signals that ask CMD (and so the proxy) to end. The others are passed on
// and mean nothing to the supervisor.
constexpr bool is_termination(int signo) noexcept {
  return signo == SIGTERM || signo == SIGINT || signo == SIGHUP || signo == SIGQUIT;
}

// Process-wide state touched by the signal handler: only lock-free atomics
// and a file descriptor.
static_assert(std::atomic<int>::is_always_lock_free);
std::atomic<int> g_write_fd{-1};
std::atomic<int> g_term_signal{0};
std::atomic<bool> g_instance{false};

extern "C" void on_signal(int signo, siginfo_t* info, void* /*context*/) {
  const int saved_errno = errno;
  if (is_termination(signo)) {
    int expected = 0;
    g_term_signal.compare_exchange_strong(expected, signo);
  }
  const unsigned char msg[2] = {static_cast<unsigned char>(signo),
                                (info != nullptr && info->si_code == SI_KERNEL) ? kFromKernel : kFromProcess};
  const int fd = g_write_fd.load();
  if (fd >= 0) {
    // Two bytes < PIPE_BUF: atomic. A full pipe drops the event; run() polls
    // waitpid periodically, and termination is also in g_term_signal.
    [[maybe_unused]] const ssize_t n = ::write(fd, msg, sizeof msg);
  }
  errno = saved_errno;
}

std::string signal_name(int signo) {
  const char* abbrev = sigabbrev_np(signo);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(signo);
}

void default_report(std::string_view line) {
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  std::fflush(stderr);
}

// Empties the self-pipe; returns the signals in it that run() would pass on
// (stop requests and SIGCHLD are not).
std::vector<int> drain_signals(int read_fd) {
  std::vector<int> out;
  unsigned char buf[64];
  ssize_t n = 0;
  while ((n = ::read(read_fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i + 1 < n; i += 2) {
      if (buf[i + 1] != kStopRequest && buf[i] != SIGCHLD) {
        out.push_back(buf[i]);
      }
    }
  }
  return out;
}

// The child's environment: ours, minus unset_env and overridden names, plus
// the additions. Built before spawning (nothing is allocated in the child).
std::vector<std::string> build_env(const ChildSpec& spec) {
  std::set<std::string, std::less<>> drop(spec.unset_env.begin(), spec.unset_env.end());
  for (const auto& [name, value] : spec.env) {
    drop.insert(name);
  }
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    if (drop.find(name) == drop.end()) {
      out.emplace_back(entry);
    }
  }
  for (const auto& [name, value] : spec.env) {
    out.push_back(name + "=" + value);
  }
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

// Where execvp would look for `file`: itself when it has a '/', else each
// entry of this process's PATH in order (an empty entry is the current
// directory; no PATH: /bin:/usr/bin, glibc's default).
std::vector<std::string> exec_candidates(const std::string& file) {
  if (file.empty()) {
    return {};  // "command not found", as a shell says (not EACCES for a PATH directory)
  }
  if (file.find('/') != std::string::npos) {
    return {file};
  }
  const char* env_path = std::getenv("PATH");
  std::string_view path = env_path != nullptr ? env_path : "/bin:/usr/bin";
  std::vector<std::string> out;
  while (true) {
    const auto colon = path.find(':');
    const std::string_view dir = path.substr(0, colon);
    out.push_back((dir.empty() ? std::string(".") : std::string(dir)) + "/" + file);
    if (colon == std::string_view::npos) {
      break;
    }
    path.remove_prefix(colon + 1);
  }
  return out;
}

// The descriptors this process holds without close-on-exec, >= 3, sorted:
// at Supervisor::create() these are the ones its caller passed in (CMD gets
// them too, as with tini). Asio opens its sockets without close-on-exec, so
// the proxy's own (the listeners above all) must be closed in the child.
std::vector<int> inheritable_fds() {
  std::vector<int> out;
  if (DIR* d = ::opendir("/proc/self/fd"); d != nullptr) {
    const int own = ::dirfd(d);
    while (const dirent* e = ::readdir(d)) {
      char* end = nullptr;
      const long fd = std::strtol(e->d_name, &end, 10);
      if (end != e->d_name && *end == '\0' && fd >= 3 && fd != own && fd <= INT_MAX) {
        out.push_back(static_cast<int>(fd));
      }
    }
    ::closedir(d);
  } else {  // no /proc: ask each descriptor below the limit (bounded)
    rlimit lim{};
    const rlim_t top = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 ? std::min<rlim_t>(lim.rlim_cur, 65536) : 1024;
    for (int fd = 3; static_cast<rlim_t>(fd) < top; ++fd) {
      if (::fcntl(fd, F_GETFD) >= 0) {
        out.push_back(fd);
      }
    }
  }
  std::erase_if(out, [](int fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    return flags < 0 || (flags & FD_CLOEXEC) != 0;
  });
  std::sort(out.begin(), out.end());
  return out;
}

// In the forked child (async-signal-safe): closes [lo, hi], with
// close_range(2) where the kernel has it (5.9+), else one close() per
// descriptor below `limit` (the enclave kernels nitro-cli ships are 4.14).
void close_span(int lo, int hi, int limit) noexcept {
  if (lo > hi) {
    return;
  }
#if defined(SYS_close_range)
  if (::syscall(SYS_close_range, static_cast<unsigned>(lo), static_cast<unsigned>(hi), 0U) == 0) {
    return;
  }
#endif
  for (int fd = lo; fd <= hi && fd < limit; ++fd) {
    ::close(fd);
  }
}

// In the forked child: closes every descriptor >= 3 except `keep` (sorted).
void close_fds_except(const int* keep, std::size_t n, int limit) noexcept {
  int from = 3;
  for (std::size_t i = 0; i < n; ++i) {
    close_span(from, keep[i] - 1, limit);
    from = std::max(from, keep[i] + 1);
  }
  close_span(from, INT_MAX, limit);
}

struct Spawned {
  pid_t pid = -1;
  int error = 0;  // errno of fork or of the exec (as execvp reports it)
};

// fork + exec, so that CMD can ask for SIGTERM when the proxy dies
// (PR_SET_PDEATHSIG, which posix_spawn cannot set): a proxy killed with
// SIGKILL (the OOM killer, say) must not leave CMD running without its KMS
// endpoint. Everything is allocated before fork(); the child makes only
// async-signal-safe calls. All signals are blocked around fork() so that none
// runs our handler in the child (it would write to the parent's self-pipe)
// before the child has reset the dispositions. An exec error comes back
// through a close-on-exec pipe.
Spawned spawn(const std::string& file, char* const argv[], char* const envp[], const rlimit* nofile,
              const std::vector<int>& inherited) {
  std::vector<std::string> candidates = exec_candidates(file);
  std::vector<char*> paths = pointers(candidates);
  // execvp's fallback for a file the kernel will not execute (ENOEXEC: a
  // script without "#!"): /bin/sh FILE ARGS...; prepared here, FILE set in the child.
  std::vector<char*> sh_argv{const_cast<char*>("sh"), nullptr};
  for (char* const* a = argv + 1; *a != nullptr; ++a) {
    sh_argv.push_back(*a);
  }
  sh_argv.push_back(nullptr);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) {
    return {-1, errno};
  }
  // Kept open in the child: what the caller passed in, and the report pipe
  // (close-on-exec: it closes when the exec succeeds).
  std::vector<int> keep(inherited);
  keep.insert(std::upper_bound(keep.begin(), keep.end(), report[1]), report[1]);
  rlimit lim{};
  const int fd_limit = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < static_cast<rlim_t>(INT_MAX)
                           ? static_cast<int>(lim.rlim_cur)
                           : 1 << 20;
  sigset_t all;
  sigfillset(&all);
  sigset_t previous;
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < 32; ++s) {
      if (s != SIGKILL && s != SIGSTOP) {
        ::sigaction(s, &dfl, nullptr);  // also undoes an inherited SIG_IGN (SIGPIPE)
      }
    }
#if defined(__linux__)
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
    close_fds_except(keep.data(), keep.size(), fd_limit);  // the proxy's sockets are not CMD's
    if (nofile != nullptr) {
      ::setrlimit(RLIMIT_NOFILE, nofile);  // lowering is always allowed
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::getppid() != parent) {
      ::raise(SIGTERM);  // the proxy died before PR_SET_PDEATHSIG took hold
      ::_exit(128 + SIGTERM);
    }
    // execvp's walk: a missing or non-directory entry goes on, so does EACCES
    // (reported if nothing else is found); any other error stops.
    int err = ENOENT;
    bool denied = false;
    for (char* const* p = paths.data(); *p != nullptr; ++p) {
      ::execve(*p, argv, envp);
      err = errno;
      if (err == ENOEXEC) {
        sh_argv[1] = *p;
        ::execve("/bin/sh", sh_argv.data(), envp);
        err = errno;
        break;
      }
      if (err == EACCES) {
        denied = true;
      } else if (err != ENOENT && err != ENOTDIR) {
        break;
      }
    }
    if (denied && (err == ENOENT || err == ENOTDIR)) {
      err = EACCES;
    }
    [[maybe_unused]] const ssize_t n = ::write(report[1], &err, sizeof err);
    ::_exit(127);
  }
  const int fork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::close(report[1]);
  if (pid < 0) {
    ::close(report[0]);
    return {-1, fork_error};
  }
  int exec_error = 0;
  ssize_t n = 0;
  do {
    n = ::read(report[0], &exec_error, sizeof exec_error);  // 0: the exec closed it
  } while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof exec_error)) {
    int ignored = 0;
    while (::waitpid(pid, &ignored, 0) < 0 && errno == EINTR) {
    }
    return {-1, exec_error};
  }
  return {pid, 0};
}

}  // namespace

int exit_status_from_wait(int wait_status) noexcept {
  if (WIFEXITED(wait_status)) {
    return WEXITSTATUS(wait_status);
  }
  if (WIFSIGNALED(wait_status)) {
    return 128 + WTERMSIG(wait_status);
  }
  return 255;
}

struct Supervisor::State {
  // The open-file limit when the supervisor was created: the proxy may raise
  // its own soft limit afterwards (app/daemon.cc); CMD gets this one back.
  rlimit nofile{};
  bool have_nofile = false;
  std::vector<int> inherited_fds;  // passed on to CMD (inheritable_fds())
  int read_fd = -1;
  int write_fd = -1;
  struct sigaction previous[kNumHandled] = {};
  bool installed[kNumHandled] = {};
  std::atomic<pid_t> child{0};
  std::atomic<int> stop_signal{0};  // request_stop() before/while running
};

Supervisor::Supervisor(Options opts) : state_(std::make_unique<State>()), opts_(std::move(opts)) {
  if (!opts_.report) {
    opts_.report = default_report;
  }
}

Result<std::unique_ptr<Supervisor>> Supervisor::create(Options opts) {
  bool expected = false;
  if (!g_instance.compare_exchange_strong(expected, true)) {
    return fail(Errc::kInternal, "supervisor: another Supervisor already handles signals");
  }
  std::unique_ptr<Supervisor> sup(new Supervisor(std::move(opts)));
  State& st = *sup->state_;
  st.have_nofile = ::getrlimit(RLIMIT_NOFILE, &st.nofile) == 0;
  st.inherited_fds = inheritable_fds();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return fail(Errc::kInternal, std::string("supervisor: pipe2 failed: ") + std::strerror(errno));
  }
  st.read_fd = fds[0];
  st.write_fd = fds[1];
  g_term_signal.store(0);
  g_write_fd.store(st.write_fd);
  for (std::size_t i = 0; i < kNumHandled; ++i) {
    struct sigaction sa = {};
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | (kHandled[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
    sigfillset(&sa.sa_mask);  // one handler at a time per thread
    if (::sigaction(kHandled[i], &sa, &st.previous[i]) != 0) {
      return fail(Errc::kInternal, std::string("supervisor: sigaction failed: ") + std::strerror(errno));
    }
    st.installed[i] = true;
  }
#if defined(__linux__)
  if (sup->opts_.become_subreaper && ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return fail(Errc::kInternal, std::string("supervisor: PR_SET_CHILD_SUBREAPER failed: ") + std::strerror(errno));
  }
#endif
  return sup;
}

Supervisor::~Supervisor() {
  State& st = *state_;
  for (std::size_t i = 0; i < kNumHandled; ++i) {
    if (st.installed[i]) {
      ::sigaction(kHandled[i], &st.previous[i], nullptr);
    }
  }
  g_write_fd.store(-1);
  if (st.read_fd >= 0) {
    ::close(st.read_fd);
  }
  if (st.write_fd >= 0) {
    ::close(st.write_fd);
  }
  g_instance.store(false);
}

int Supervisor::termination_signal() const noexcept { return g_term_signal.load(); }

pid_t Supervisor::child_pid() const noexcept { return state_->child.load(); }

void Supervisor::request_stop(int signo) noexcept {
  int expected = 0;
  state_->stop_signal.compare_exchange_strong(expected, signo);
  const unsigned char msg[2] = {static_cast<unsigned char>(signo), kStopRequest};
  [[maybe_unused]] const ssize_t n = ::write(state_->write_fd, msg, sizeof msg);
}

int Supervisor::run(const ChildSpec& spec) {
  State& st = *state_;
  const std::string& prog = opts_.program_name;
  if (spec.argv.empty()) {
    opts_.report(prog + ": no command given");
    return 127;
  }
  // Signals other than the termination ones that came before CMD existed
  // were for nobody: replaying them would hit CMD before it could set up
  // its handlers (SIGUSR1's default action ends it). The termination ones
  // (and stop requests) are in g_term_signal / stop_signal.
  for (const int signo : drain_signals(st.read_fd)) {
    if (!is_termination(signo)) {
      opts_.report(prog + ": " + signal_name(signo) + " received before " + spec.argv[0] +
                   " started; not passed on");
    }
  }
  if (const int early = g_term_signal.load() != 0 ? g_term_signal.load() : st.stop_signal.load(); early != 0) {
    opts_.report(prog + ": not starting " + spec.argv[0] + ": received " + signal_name(early));
    return 128 + early;
  }
  const bool reap_all =
      opts_.reap == ReapMode::kAll || (opts_.reap == ReapMode::kAuto && ::getpid() == 1);

  std::vector<std::string> args(spec.argv);
  std::vector<std::string> env = build_env(spec);
  std::vector<char*> argv = pointers(args);
  std::vector<char*> envp = pointers(env);

  const Spawned spawned = spawn(args[0], argv.data(), envp.data(), st.have_nofile ? &st.nofile : nullptr,
                                st.inherited_fds);
  if (spawned.pid < 0) {
    const int err = spawned.error;
    const bool not_found = err == ENOENT || err == ENOTDIR;
    const bool searched = spec.argv[0].find('/') == std::string::npos;
    opts_.report(prog + ": " + spec.argv[0] + ": " +
                 (not_found && searched ? std::string("command not found") : std::strerror(err)));
    return not_found ? 127 : 126;
  }
  const pid_t pid = spawned.pid;
  st.child.store(pid);

  int status = 0;
  bool exited = false;
  std::optional<Clock::time_point> kill_at;
  const pid_t own_group = ::getpgrp();
  while (!exited) {
    int timeout_ms = 1000;  // periodic waitpid: a safety net for a lost SIGCHLD
    if (kill_at) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*kill_at - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<long long>(left.count(), 0, 1000));
    }
    pollfd pfd{st.read_fd, POLLIN, 0};
    ::poll(&pfd, 1, timeout_ms);  // EINTR is fine: we re-check everything below

    unsigned char buf[64];
    ssize_t n = 0;
    while ((n = ::read(st.read_fd, buf, sizeof buf)) > 0) {
      for (ssize_t i = 0; i + 1 < n; i += 2) {
        const int signo = buf[i];
        const unsigned char kind = buf[i + 1];
        if (kind == kStopRequest) {
          ::kill(pid, signo);
          if (!kill_at) {
            kill_at = Clock::now() + opts_.stop_grace;
          }
        } else if (signo == SIGCHLD) {
          // handled by the reaping below
        } else {
          // A terminal's ^C or ^\ went to the whole foreground group: CMD has it.
          const bool cmd_has_it =
              (signo == SIGINT || signo == SIGQUIT) && kind == kFromKernel && ::getpgid(pid) == own_group;
          if (!cmd_has_it) {
            ::kill(pid, signo);
          }
          // SIGTERM / SIGINT / SIGQUIT stop CMD, within the grace period
          // (SIGHUP often means "reload" and is only passed on).
          if (signo != SIGHUP && is_termination(signo) && !kill_at) {
            kill_at = Clock::now() + opts_.stop_grace;
            const auto ms = opts_.stop_grace.count();
            opts_.report(prog + ": " + signal_name(signo) + (cmd_has_it ? " reached " : " forwarded to ") +
                         spec.argv[0] + "; SIGKILL if it has not exited in " +
                         (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms"));
          }
        }
      }
    }

    // Reap: our child, and with reap_all every other zombie re-parented to us.
    while (true) {
      int st_code = 0;
      const pid_t r = ::waitpid(reap_all ? -1 : pid, &st_code, WNOHANG);
      if (r <= 0) {
        break;  // 0: nothing more now; -1: ECHILD (or EINTR, retried next turn)
      }
      if (r == pid) {
        status = st_code;
        exited = true;
        if (!reap_all) {
          break;
        }
      }
    }
    if (!exited && kill_at && Clock::now() >= *kill_at) {
      opts_.report(prog + ": " + spec.argv[0] + " did not stop in time; sending SIGKILL");
      ::kill(pid, SIGKILL);
      kill_at = Clock::now() + std::chrono::hours(24);  // once
    }
  }
  st.child.store(0);
  return exit_status_from_wait(status);
}

int run_child(const ChildSpec& spec, Options opts) {
  auto report = opts.report ? opts.report : std::function<void(std::string_view)>(default_report);
  const std::string prog = opts.program_name;
  auto sup = Supervisor::create(std::move(opts));
  if (!sup) {
    report(prog + ": " + sup.error().message);
    return 126;
  }
  return (*sup)->run(spec);
}

}  // namespace kp::supervisor
