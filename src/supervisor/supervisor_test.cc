// Tests for supervisor/supervisor.h: exit codes, exec failures, the child's
// environment, signal forwarding, stop requests and zombie reaping. Every
// wait is bounded: a watchdog SIGKILLs the child after kWatchdog.
#include "supervisor/supervisor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/wait.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace kp::supervisor {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr auto kWatchdog = 15s;

// A fresh directory per test for ready-files and outputs.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kp-supervisor-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

bool wait_for_file(const std::string& path, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(path)) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Kills the child (through the supervisor) if the test has not finished in
// time, so a broken supervisor fails the test instead of hanging it.
class Watchdog {
 public:
  explicit Watchdog(Supervisor& sup) : thread_([this, &sup] {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, kWatchdog, [this] { return done_; })) {
      fired_ = true;
      sup.request_stop(SIGKILL);
    }
  }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool fired() const { return fired_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;
};

struct Captured {
  std::vector<std::string> lines;
  Options options() {
    Options o;
    o.report = [this](std::string_view l) { lines.emplace_back(l); };
    return o;
  }
};

std::unique_ptr<Supervisor> make(Options o = {}) {
  auto s = Supervisor::create(std::move(o));
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

int run_sh(const std::string& script, Options o = {}, ChildSpec extra = {}) {
  auto sup = make(std::move(o));
  if (!sup) {
    return -1;
  }
  Watchdog dog(*sup);
  extra.argv = {"/bin/sh", "-c", script};
  const int code = sup->run(extra);
  EXPECT_FALSE(dog.fired()) << "watchdog fired: " << script;
  return code;
}

TEST(ExitCodes, PassedThrough) {
  EXPECT_EQ(run_sh("exit 0"), 0);
  EXPECT_EQ(run_sh("exit 3"), 3);
  EXPECT_EQ(run_sh("exit 255"), 255);
}

TEST(ExitCodes, KilledBySignalIs128PlusN) {
  EXPECT_EQ(run_sh("kill -KILL $$"), 137);
  EXPECT_EQ(run_sh("kill -TERM $$"), 143);
}

TEST(ExitCodes, WaitStatusDecoding) {
  EXPECT_EQ(exit_status_from_wait(0), 0);
  EXPECT_EQ(exit_status_from_wait(7 << 8), 7);
  EXPECT_EQ(exit_status_from_wait(SIGKILL), 137);
}

TEST(ExecFailure, NotFoundIs127WithMessage) {
  Captured cap;
  EXPECT_EQ(run_child({{"kp-surely-not-a-command-xyz", "arg"}, {}, {}}, cap.options()), 127);
  EXPECT_THAT(cap.lines, ::testing::ElementsAre("kms-proxy: kp-surely-not-a-command-xyz: command not found"));

  Captured abs;
  EXPECT_EQ(run_child({{"/nonexistent/dir/cmd"}, {}, {}}, abs.options()), 127);
  EXPECT_THAT(abs.lines, ::testing::ElementsAre("kms-proxy: /nonexistent/dir/cmd: No such file or directory"));
}

TEST(ExecFailure, NotExecutableIs126) {
  TempDir dir;
  const std::string script = dir.file("not-executable.sh");
  std::ofstream(script) << "#!/bin/sh\nexit 0\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  Captured cap;
  EXPECT_EQ(run_child({{script}, {}, {}}, cap.options()), 126);
  ASSERT_EQ(cap.lines.size(), 1U);
  EXPECT_THAT(cap.lines[0], HasSubstr("not-executable.sh: Permission denied"));

  Captured d;
  EXPECT_EQ(run_child({{"/"}, {}, {}}, d.options()), 126);
}

TEST(ExecFailure, EmptyArgv) {
  Captured cap;
  EXPECT_EQ(run_child({}, cap.options()), 127);
  EXPECT_THAT(cap.lines, ::testing::ElementsAre("kms-proxy: no command given"));
}

TEST(ExecFailure, EmptyCommandNameIsNotFound) {
  Captured cap;
  EXPECT_EQ(run_child({{""}, {}, {}}, cap.options()), 127);  // was 126: PATH's directories gave EACCES
  EXPECT_THAT(cap.lines, ::testing::ElementsAre("kms-proxy: : command not found"));
}

TEST(Exec, ScriptWithoutShebangRunsUnderBinSh) {
  TempDir dir;
  const std::string script = dir.file("no-shebang");
  std::ofstream(script) << "printf '%s' \"$1\" > \"$OUT\"\nexit 3\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  ChildSpec spec;
  spec.argv = {script, "arg one"};
  spec.env = {{"OUT", dir.file("out")}};
  Captured cap;
  EXPECT_EQ(run_child(spec, cap.options()), 3);  // as execvp and a shell do (was 126, ENOEXEC)
  EXPECT_EQ(read_file(dir.file("out")), "arg one");
}

TEST(Descriptors, ChildGetsInheritedOnesNotTheProcessOwn) {
  TempDir dir;
  // Open before the supervisor exists, without close-on-exec: "passed in by
  // the caller". Opened after it: the proxy's own (Asio's sockets have no
  // close-on-exec), which CMD must not hold.
  const int inherited = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(inherited, 3);
  auto sup = make();
  ASSERT_TRUE(sup);
  const int own = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(own, 3);
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", "ls /proc/self/fd > \"$OUT\""};
  spec.env = {{"OUT", dir.file("fds")}};
  EXPECT_EQ(sup->run(spec), 0);
  std::set<int> fds;
  std::istringstream in(read_file(dir.file("fds")));
  for (int fd = 0; in >> fd;) {
    fds.insert(fd);
  }
  EXPECT_TRUE(fds.count(inherited)) << read_file(dir.file("fds"));
  EXPECT_FALSE(fds.count(own)) << read_file(dir.file("fds"));
  ::close(own);
  ::close(inherited);
}

TEST(Environment, ChildSeesAdditionsOverridesAndRemovals) {
  TempDir dir;
  ASSERT_EQ(::setenv("KP_SUP_INHERITED", "kept", 1), 0);
  ASSERT_EQ(::setenv("KP_SUP_OVERRIDDEN", "old", 1), 0);
  ASSERT_EQ(::setenv("KP_SUP_REMOVED", "gone", 1), 0);
  ChildSpec spec;
  spec.env = {{"AWS_KMS_ENDPOINT", "http://127.0.0.1:9999"},
              {"AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:9999"},
              {"https_proxy", "http://127.0.0.1:10000/"},
              {"KP_SUP_OVERRIDDEN", "new"},
              {"OUT", dir.file("env.txt")}};
  spec.unset_env = {"KP_SUP_REMOVED"};
  const int code = run_sh(
      "printf '%s|%s|%s|%s|%s|%s' \"$AWS_KMS_ENDPOINT\" \"$AWS_ENDPOINT_URL_KMS\" \"$https_proxy\" "
      "\"$KP_SUP_INHERITED\" \"$KP_SUP_OVERRIDDEN\" \"${KP_SUP_REMOVED-unset}\" > \"$OUT\"; "
      "env | grep -c '^KP_SUP_OVERRIDDEN=' >> \"$OUT\"",
      {}, spec);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(read_file(dir.file("env.txt")),
            "http://127.0.0.1:9999|http://127.0.0.1:9999|http://127.0.0.1:10000/|kept|new|unset1\n");
  ::unsetenv("KP_SUP_INHERITED");
  ::unsetenv("KP_SUP_OVERRIDDEN");
  ::unsetenv("KP_SUP_REMOVED");
}

// Runs `script` under `sup` (READY names a file the script creates once its
// traps are set), calls `on_ready` from another thread once that file
// exists, and returns what run() returned.
int run_when_ready(Supervisor& sup, const std::string& script, const std::function<void()>& on_ready) {
  TempDir dir;
  Watchdog dog(sup);
  ChildSpec spec;
  spec.env = {{"READY", dir.file("ready")}};
  spec.argv = {"/bin/sh", "-c", script};
  std::thread sender([&] {
    if (wait_for_file(dir.file("ready"), 10s)) {
      on_ready();
    }
  });
  const int code = sup.run(spec);
  sender.join();
  EXPECT_FALSE(dog.fired());
  return code;
}

// Runs a child that traps `sig` (exit `code`), sends `sig` to this process
// once the trap is armed, and returns what run() returned.
int forward_and_wait(int sig, const std::string& trap_name, int code) {
  auto sup = make();
  if (!sup) {
    return -1;
  }
  const int result =
      run_when_ready(*sup, "trap 'exit " + std::to_string(code) + "' " + trap_name +
                               "; : > \"$READY\"; while :; do sleep 0.05; done",
                     [sig] { ::kill(::getpid(), sig); });  // to the supervisor, not the child
  EXPECT_EQ(sup->termination_signal(), sig);
  return result;
}

TEST(Signals, SigtermForwardedToChild) { EXPECT_EQ(forward_and_wait(SIGTERM, "TERM", 42), 42); }
TEST(Signals, SigintForwardedToChild) { EXPECT_EQ(forward_and_wait(SIGINT, "INT", 43), 43); }
TEST(Signals, SighupForwardedToChild) { EXPECT_EQ(forward_and_wait(SIGHUP, "HUP", 44), 44); }

TEST(Signals, QuitAndUserSignalsForwardedNotFatal) {
  // Their default action would end this (test) process: handled and passed on.
  EXPECT_EQ(forward_and_wait(SIGQUIT, "QUIT", 45), 45);
  auto sup = make();
  ASSERT_TRUE(sup);
  EXPECT_EQ(run_when_ready(*sup,
                           "trap 'u1=1' USR1; trap '[ -n \"$u1\" ] && exit 46' USR2; : > \"$READY\"; "
                           "while :; do sleep 0.05; done",
                           [] {
                             ::kill(::getpid(), SIGUSR1);
                             std::this_thread::sleep_for(200ms);
                             ::kill(::getpid(), SIGUSR2);
                           }),
            46);
  EXPECT_EQ(sup->termination_signal(), 0);  // not termination signals
}

TEST(Signals, ChildWithoutTrapDiesOfForwardedSignal) {
  auto sup = make();
  ASSERT_TRUE(sup);
  // exec: the shell becomes sleep, which has no handler for SIGTERM.
  EXPECT_EQ(run_when_ready(*sup, ": > \"$READY\"; exec sleep 30",
                           [] {
                             std::this_thread::sleep_for(100ms);  // let sh exec sleep
                             ::kill(::getpid(), SIGTERM);
                           }),
            143);
}

TEST(Signals, TerminationBeforeRunDoesNotStartChild) {
  TempDir dir;
  auto sup = make();
  ASSERT_TRUE(sup);
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);  // handled: the test process survives
  EXPECT_EQ(sup->termination_signal(), SIGTERM);
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", ": > \"$OUT\""};
  spec.env = {{"OUT", dir.file("started")}};
  EXPECT_EQ(sup->run(spec), 143);
  EXPECT_FALSE(std::filesystem::exists(dir.file("started")));
}

TEST(Signals, OtherSignalsBeforeRunAreNotReplayedToTheChild) {
  TempDir dir;
  Captured cap;
  auto sup = make(cap.options());
  ASSERT_TRUE(sup);
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);  // during the proxy's start: for nobody
  ChildSpec spec;
  // Replayed, SIGUSR1 would kill this child before its sleep ends (138).
  spec.argv = {"/bin/sh", "-c", "sleep 0.3; : > \"$OUT\""};
  spec.env = {{"OUT", dir.file("done")}};
  EXPECT_EQ(sup->run(spec), 0);
  EXPECT_TRUE(std::filesystem::exists(dir.file("done")));
  EXPECT_THAT(cap.lines, ::testing::ElementsAre("kms-proxy: SIGUSR1 received before /bin/sh started; not passed on"));
}

TEST(Signals, HandlersRestoredAfterwards) {
  struct sigaction before = {};
  ::sigaction(SIGTERM, nullptr, &before);
  {
    auto sup = make();
    ASSERT_TRUE(sup);
    struct sigaction during = {};
    ::sigaction(SIGTERM, nullptr, &during);
    EXPECT_NE(during.sa_sigaction, before.sa_sigaction);
    EXPECT_FALSE(Supervisor::create().has_value());  // one at a time
  }
  struct sigaction after = {};
  ::sigaction(SIGTERM, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
  EXPECT_TRUE(Supervisor::create().has_value());  // available again
}

TEST(Stop, RequestStopFromAnotherThread) {
  TempDir dir;
  auto sup = make();
  ASSERT_TRUE(sup);
  Watchdog dog(*sup);
  ChildSpec spec;
  spec.env = {{"READY", dir.file("ready")}};
  spec.argv = {"/bin/sh", "-c", "trap 'exit 9' TERM; : > \"$READY\"; while :; do sleep 0.05; done"};
  std::thread stopper([&] {
    if (wait_for_file(dir.file("ready"), 10s)) {
      sup->request_stop();
    }
  });
  EXPECT_EQ(sup->run(spec), 9);
  stopper.join();
  EXPECT_FALSE(dog.fired());
  EXPECT_EQ(sup->termination_signal(), 0);  // a request, not a signal
}

// Runs a CMD that ignores SIGTERM, calls `trigger` once it is armed, and
// checks that CMD ends by SIGKILL after the grace period; returns the lines
// the supervisor reported.
std::vector<std::string> escalation(const std::function<void(Supervisor&)>& trigger) {
  Captured cap;
  Options o = cap.options();
  o.stop_grace = 200ms;
  auto sup = make(o);
  if (!sup) {
    return {};
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run_when_ready(*sup, "trap '' TERM; : > \"$READY\"; while :; do sleep 0.05; done",
                           [&] { trigger(*sup); }),
            137);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_THAT(cap.lines, ::testing::Contains(HasSubstr("did not stop in time; sending SIGKILL")));
  return cap.lines;
}

TEST(Stop, EscalatesToSigkillAfterGrace) {
  escalation([](Supervisor& sup) { sup.request_stop(SIGTERM); });
}

TEST(Signals, ForwardedTerminationEscalatesToSigkillAfterGrace) {
  const auto lines = escalation([](Supervisor&) { ::kill(::getpid(), SIGTERM); });
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("SIGTERM forwarded to /bin/sh; SIGKILL if it has not exited "
                                                   "in 200 ms")));
}

// An orphan of CMD's tree re-parents to this process (subreaper) and exits
// while CMD still runs. With kAll it is reaped; with kChildOnly it is left
// as a zombie, which shows the check can fail.
pid_t leftover_child_after(ReapMode mode) {
  Options o;
  o.reap = mode;
  o.become_subreaper = true;
  EXPECT_EQ(run_sh("(sleep 0.1 &); sleep 0.6; exit 5", o), 5);
  int status = 0;
  return ::waitpid(-1, &status, WNOHANG);
}

TEST(Reaping, AllModeReapsOrphans) {
  const pid_t left = leftover_child_after(ReapMode::kAll);
  EXPECT_EQ(left, -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(Reaping, ChildOnlyModeLeavesOrphanZombie) {
  const pid_t left = leftover_child_after(ReapMode::kChildOnly);
  EXPECT_GT(left, 0);
}

// The supervisor is killed outright (SIGKILL: no handler, no forwarding):
// CMD still gets SIGTERM, from the kernel (PR_SET_PDEATHSIG). This process is
// a subreaper, so CMD re-parents here and its end can be seen.
TEST(ParentDeath, CmdGetsSigtermWhenTheSupervisorIsKilled) {
#if defined(__linux__)
  TempDir dir;
  const std::string pid_file = dir.file("cmd.pid");
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  const pid_t supervisor = ::fork();
  ASSERT_GE(supervisor, 0);
  if (supervisor == 0) {
    ChildSpec spec;
    spec.argv = {"/bin/sh", "-c", "echo $$ > " + pid_file + ".tmp && mv " + pid_file + ".tmp " + pid_file +
                                      " && exec sleep 30"};
    ::_exit(run_child(spec));
  }
  const bool started = wait_for_file(pid_file, kWatchdog);
  ::kill(supervisor, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(supervisor, &status, 0), supervisor);
  ASSERT_TRUE(started) << "CMD never started";
  const pid_t cmd = std::stoi(read_file(pid_file));
  // CMD (now our child) ends by SIGTERM; bounded, and killed if it does not.
  const auto deadline = std::chrono::steady_clock::now() + kWatchdog;
  pid_t r = 0;
  while ((r = ::waitpid(cmd, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  if (r == 0) {
    ::kill(cmd, SIGKILL);
    ::waitpid(cmd, &status, 0);
    FAIL() << "CMD outlived its supervisor";
  }
  ASSERT_EQ(r, cmd);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
#else
  GTEST_SKIP() << "PR_SET_PDEATHSIG is Linux";
#endif
}

}  // namespace
}  // namespace kp::supervisor
