//! The bench's child processes (`run-all`, `run`), each bounded in time: a child that hangs
//! is killed and named, instead of holding the bench forever.
//!
//! The wait is exact, as the bench times these children: the child's exit is awaited with
//! `waitid(WNOWAIT)`, which leaves it unreaped, and a watchdog thread kills it once the
//! limit has passed. Until the exit is noted the process cannot be reaped, so its PID
//! cannot have gone to another process when the watchdog signals it.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};

/// How long one child may run. The slowest batch measured so far, a cluster's at 8x, took
/// under 10 s, so ten minutes have passed only when a child hangs.
pub const CHILD_LIMIT: Duration = Duration::from_secs(600);

/// Runs `command` to its end with its output captured, as `Command::output` does, but
/// kills it and fails once it has run for `limit`. `what` names it in errors.
pub fn output_within(command: &mut Command, limit: Duration, what: &str) -> anyhow::Result<Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    // Both pipes drained while the child runs, or a child that fills one would block.
    // They close when the child ends: `run-all` and `run` start no processes of their own
    // that could hold them open.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let exited = Arc::new((Mutex::new(false), Condvar::new()));
    let pid = child.id();
    let watchdog = {
        let exited = Arc::clone(&exited);
        std::thread::spawn(move || {
            let (lock, noted) = &*exited;
            let guard = lock.lock().expect("child lock");
            let (guard, _) = noted
                .wait_timeout_while(guard, limit, |exited| !*exited)
                .expect("child lock");
            if *guard {
                return false;
            }
            // SAFETY: `kill` takes plain integers. The child is not reaped while this
            // lock is held and its exit not noted, so `pid` is still the child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            true
        })
    };
    let waited = wait_unreaped(pid);
    {
        let (lock, noted) = &*exited;
        *lock.lock().expect("child lock") = true;
        noted.notify_one();
    }
    let killed = watchdog.join().expect("the child's watchdog panicked");
    let status = child
        .wait()
        .with_context(|| format!("waiting for {what}"))?;
    waited.with_context(|| format!("waiting for {what}"))?;
    let output = Output {
        status,
        stdout: stdout.join().expect("a pipe reader panicked"),
        stderr: stderr.join().expect("a pipe reader panicked"),
    };
    if killed {
        bail!(
            "{what} did not finish within {} s and was killed; {}",
            limit.as_secs_f64(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// Everything `pipe` gives until it closes, read on a thread of its own.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = vec![];
        if let Some(mut pipe) = pipe {
            // A read error ends the output; the child's status still tells how it ended.
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Waits until the child `pid` has exited, leaving it to be reaped.
fn wait_unreaped(pid: u32) -> std::io::Result<()> {
    loop {
        // SAFETY: `waitid` writes only the `siginfo_t` it is given.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOWAIT;
        if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    /// `script`, given a minute it never needs.
    fn within_a_minute(script: &str) -> Output {
        output_within(&mut sh(script), Duration::from_secs(60), "a test").unwrap()
    }

    #[test]
    fn a_child_within_its_limit_gives_its_status_and_output() {
        let output = within_a_minute("echo out; echo err >&2; exit 3");
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(output.stdout, b"out\n");
        assert_eq!(output.stderr, b"err\n");
    }

    #[test]
    fn more_output_than_a_pipe_holds_is_read_whole() {
        let output = within_a_minute("head -c 300000 /dev/zero");
        assert!(output.status.success());
        assert_eq!(output.stdout.len(), 300_000);
    }

    #[test]
    fn a_child_that_outlives_its_limit_is_killed_and_named() {
        // Had it not been killed, it would end well after 30 s, and with no error.
        let error = output_within(
            &mut sh("echo started >&2; exec sleep 30"),
            Duration::from_millis(300),
            "a sleeper",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("a sleeper did not finish within 0.3 s"),
            "{error}"
        );
        assert!(error.contains("started"), "its stderr is kept: {error}");
    }
}
