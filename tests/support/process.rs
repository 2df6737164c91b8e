//! External server processes (git daemon, docker-registry, aiosmtpd, the daemon under test):
//! each starts in its own process group and is stopped with the whole group. `git daemon` is a
//! wrapper that runs `git-daemon` as its child: killing only the wrapper left one `git-daemon`
//! behind per fixture and run.

use std::io::BufRead as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How a server is stopped when its fixture is dropped.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// SIGTERM to the group, so a wrapper reaps its children (nothing reaps orphans in a
    /// container whose PID 1 is not an init); SIGKILL if the group is still there after 5s.
    Terminate,
    /// SIGKILL to the group at once: for the daemon under test, whose graceful shutdown would
    /// wait for a (possibly hanging) audit.
    Kill,
}

/// A child process leading its own process group.
pub struct ServerProcess {
    child: Child,
    stop: Stop,
    /// Once the leader is reaped its pid, and so the group id, may be reused: no more signals.
    reaped: bool,
}

impl ServerProcess {
    /// Spawns `cmd` as the leader of a new process group; panics with `missing` if it cannot
    /// be started (the program is not installed).
    pub fn spawn(cmd: &mut Command, stop: Stop, missing: &str) -> Self {
        let child = cmd.process_group(0).spawn().expect(missing);
        Self {
            child,
            stop,
            reaped: false,
        }
    }

    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// The exit status if the process has exited (it is reaped then).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().expect("wait for a child");
        self.reaped |= status.is_some();
        status
    }

    /// Sends `signal` to the process itself (not its group), as an operator's `kill` does.
    pub fn signal(&self, signal: libc::c_int) {
        assert!(!self.reaped, "signal to a process that has exited");
        send(self.pid(), false, signal);
    }

    /// Stops the whole group and reaps the leader; nothing once it has been reaped.
    pub fn stop(&mut self) {
        if self.reaped {
            return;
        }
        match self.stop {
            Stop::Kill => send(self.pid(), true, libc::SIGKILL),
            Stop::Terminate => {
                send(self.pid(), true, libc::SIGTERM);
                let deadline = Instant::now() + Duration::from_secs(5);
                while self.child.try_wait().expect("wait for a child").is_none() {
                    if Instant::now() > deadline {
                        send(self.pid(), true, libc::SIGKILL);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        let _ = self.child.wait();
        self.reaped = true;
    }

    fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The lines a server prints on `pipe`, read to the end on a thread of its own so that a
/// chatty server never blocks on a full pipe. The channel disconnects when the pipe closes: the
/// server (and every child holding the pipe) has exited.
pub fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

#[allow(unsafe_code)]
fn send(pid: libc::pid_t, group: bool, signal: libc::c_int) {
    // SAFETY: kill(2) and killpg(2) take plain integers and touch no memory of ours. `pid` is
    // our child, not yet reaped, so neither it nor its group id (the same number, as it leads
    // its group) can belong to another process. A failure (the group is already gone) is fine.
    unsafe {
        if group {
            libc::killpg(pid, signal);
        } else {
            libc::kill(pid, signal);
        }
    }
}
