//! Process handles that survive a server restart: a pid plus the process's
//! start time, so that a reused pid is never mistaken for the run's process.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The engine process of a run, which leads its own process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobHandle {
    pub pid: i32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat`, field 22).
    pub start_ticks: u64,
}

impl JobHandle {
    pub fn for_pid(pid: i32) -> Option<JobHandle> {
        Some(JobHandle { pid, start_ticks: start_ticks(pid)? })
    }

    /// Parses the job id stored on the run: `local:<pid>:<start ticks>`.
    pub fn parse(job_id: &str) -> Option<JobHandle> {
        let mut parts = job_id.strip_prefix("local:")?.split(':');
        let pid = parts.next()?.parse().ok()?;
        let start_ticks = parts.next()?.parse().ok()?;
        Some(JobHandle { pid, start_ticks })
    }

    pub fn job_id(&self) -> String {
        format!("local:{}:{}", self.pid, self.start_ticks)
    }

    /// Returns whether the process still runs and is not a zombie awaiting its parent.
    pub fn is_alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let Some(fields) = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>()) else {
            return false;
        };
        let state = fields.first().copied().unwrap_or("X");
        let ticks = fields.get(19).and_then(|t| t.parse::<u64>().ok());
        state != "Z" && state != "X" && ticks == Some(self.start_ticks)
    }

    /// Sends `signal` to the whole process group (the engine, mpirun and every rank).
    pub fn signal_group(&self, signal: Signal) {
        if self.is_alive() {
            let _ = killpg(Pid::from_raw(self.pid), signal);
        }
    }
}

fn start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_round_trips_and_sees_itself() {
        let handle = JobHandle::for_pid(std::process::id() as i32).expect("own stat");
        assert!(handle.is_alive());
        assert_eq!(JobHandle::parse(&handle.job_id()), Some(handle));
        let reused = JobHandle { pid: handle.pid, start_ticks: handle.start_ticks + 1 };
        assert!(!reused.is_alive(), "a different start time means another process");
    }
}
