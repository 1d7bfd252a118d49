//! Ember processes (`ember sim | api | worker`) run from the test binary's `ember` executable,
//! each killed when its guard drops so that a failing test leaves no process behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// One running `ember` process; SIGKILLed and reaped on drop.
pub struct EmberProcess {
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl EmberProcess {
    /// Starts `ember <args>` with `env`, its stdout and stderr appended to `<log_dir>/<name>.log`.
    pub fn spawn(
        name: &str,
        args: &[String],
        env: &[(String, String)],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(env!("CARGO_BIN_EXE_ember"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start `ember {}`", args.join(" ")))?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            log,
        })
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Fails with the end of the process's log if it has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        anyhow::bail!(
            "`ember {}` exited; the end of its log ({}):\n{}",
            self.name,
            self.log.display(),
            self.log_tail()
        )
    }

    /// The last lines of the process's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGKILL: the process gets no chance to finish anything (a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits up to `grace` for a clean exit (SIGKILL after that).
    pub async fn terminate(&mut self, grace: Duration) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .context("cannot run kill -TERM")?;
        anyhow::ensure!(status.success(), "kill -TERM {} failed", child.id());
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!(
                    "`ember {}` did not stop within {grace:?} of SIGTERM",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for EmberProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
