#include "cli/shell_command.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string_view>
#include <thread>

namespace henbtrust::cli {

Status RunShellCommand(const std::string& command, const std::vector<std::string>& extra_env,
                       std::string* out, int seconds) {
  std::vector<std::string> env_text = extra_env;
  std::vector<char*> env;
  size_t inherited = 0;
  while (environ[inherited] != nullptr) ++inherited;
  env.reserve(env_text.size() + inherited + 1);
  for (std::string& e : env_text) env.push_back(e.data());
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v(*e);
    const bool replaced = std::ranges::any_of(extra_env, [&](const std::string& x) {
      return v.starts_with(std::string_view(x).substr(0, x.find('=') + 1));
    });
    if (!replaced) env.push_back(*e);
  }
  env.push_back(nullptr);

  int pipe_fds[2] = {-1, -1};
  if (out != nullptr && ::pipe2(pipe_fds, O_CLOEXEC) != 0)
    return Error(ErrorCode::kIo, "pipe: " + std::string(strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out != nullptr) posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  // Nothing of ours but stdin, stdout and stderr: not the PVE's socket.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // Its own process group, so that a timeout kills the shell and what it
  // started; default handling of the signals a service blocks or ignores.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigset_t defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::string sh = "/bin/sh";
  std::string dash_c = "-c";
  std::string line = command;
  char* argv[] = {sh.data(), dash_c.data(), line.data(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (out != nullptr) ::close(pipe_fds[1]);
  if (rc != 0) {
    if (out != nullptr) ::close(pipe_fds[0]);
    return Error(ErrorCode::kIo, "cannot run '" + command + "': " + std::string(strerror(rc)));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  bool killed = false;
  const auto kill_group = [&] {
    if (!killed) ::kill(-pid, SIGKILL);
    killed = true;
  };
  std::string read_error;
  if (out != nullptr) {
    out->clear();
    char buffer[1 << 14];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        kill_group();
        break;
      }
      pollfd p{pipe_fds[0], POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) {
        read_error = "poll: " + std::string(strerror(errno));
        break;
      }
      if (ready == 0) continue;  // the deadline, checked above
      const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        read_error = "read: " + std::string(strerror(errno));
        break;
      }
      if (n == 0) break;
      out->append(buffer, static_cast<size_t>(n));
      if (out->size() > kMaxCommandOutputBytes) {
        read_error = "more than " + std::to_string(kMaxCommandOutputBytes) + " bytes of output";
        break;
      }
    }
    ::close(pipe_fds[0]);
    if (!read_error.empty()) kill_group();
  }
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) return Error(ErrorCode::kIo, "waitpid: " + std::string(strerror(errno)));
    if (std::chrono::steady_clock::now() > deadline) kill_group();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!read_error.empty()) {
    return Error(ErrorCode::kIo, "'" + command + "': " + read_error + "; killed");
  }
  if (killed) {
    return Error(ErrorCode::kIo,
                 "'" + command + "' took longer than " + std::to_string(seconds) + " s; killed");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return OkStatus();
  return Error(ErrorCode::kIo,
               "'" + command + "' " +
                   (WIFEXITED(status) ? "exited " + std::to_string(WEXITSTATUS(status))
                                      : "died of signal " + std::to_string(WTERMSIG(status))));
}

}  // namespace henbtrust::cli
