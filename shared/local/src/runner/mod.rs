//! The local runner: each started run becomes a `cloudrun worker` process
//! (the same worker code as a one-node Batch job) in a process group of its
//! own. The worker reports progress, outputs and the end itself; the runner
//! only notices a worker that ended without recording how.

mod monitor;
pub mod process;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use cloudrun_core::api::Services;
use cloudrun_core::ports::{Scheduler, SchedulerError};
use cloudrun_core::run::Run;
use nix::sys::signal::Signal;
use tracing::{info, warn};

use crate::files::FsFileStore;
use process::JobHandle;

pub use monitor::recover_runs;

/// Picks a free TCP port on 127.0.0.1 for a multi-node rendezvous.
fn free_port() -> Result<u16, SchedulerError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| SchedulerError(format!("no free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| SchedulerError(e.to_string()))
}

/// Starts worker processes and watches them.
pub struct LocalScheduler {
    engine: String,
    files: FsFileStore,
    /// The `cloudrun` executable, which contains the worker.
    program: PathBuf,
    /// The server's data directory and configuration file, passed on to each worker.
    data_dir: PathBuf,
    config_file: Option<PathBuf>,
    /// Worker processes per run (nodes of the job).
    nodes: usize,
    /// Set once the services exist, since the watchers write through them.
    services: OnceLock<Services>,
}

impl LocalScheduler {
    pub fn new(
        engine: String,
        files: FsFileStore,
        program: PathBuf,
        data_dir: PathBuf,
        config_file: Option<PathBuf>,
        nodes: usize,
    ) -> Arc<LocalScheduler> {
        let nodes = nodes.max(1);
        Arc::new(LocalScheduler { engine, files, program, data_dir, config_file, nodes, services: OnceLock::new() })
    }

    pub fn attach(&self, services: Services) {
        let _ = self.services.set(services);
    }

    fn worker_command(&self, run: &Run, log_path: &std::path::Path) -> Result<tokio::process::Command, SchedulerError> {
        let log = std::fs::File::create(log_path).map_err(|e| SchedulerError(format!("cannot create the worker log: {e}")))?;
        let log_err = log.try_clone().map_err(|e| SchedulerError(e.to_string()))?;
        let mut command = tokio::process::Command::new(&self.program);
        command.arg("worker").arg("--run-id").arg(run.id.as_str()).arg("--data-dir").arg(&self.data_dir);
        if let Some(config) = &self.config_file {
            command.arg("--config").arg(config);
        }
        command.stdin(std::process::Stdio::null()).stdout(log).stderr(log_err).kill_on_drop(false);
        Ok(command)
    }

    fn services(&self) -> Result<Services, SchedulerError> {
        self.services.get().cloned().ok_or_else(|| SchedulerError("runner used before the server was ready".into()))
    }
}

#[async_trait]
impl Scheduler for LocalScheduler {
    fn engine(&self) -> String {
        self.engine.clone()
    }

    async fn submit(&self, run: &Run) -> Result<String, SchedulerError> {
        let services = self.services()?;
        let logs = self.data_dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| SchedulerError(format!("cannot create {}: {e}", logs.display())))?;
        let port = if self.nodes > 1 { free_port()? } else { 0 };

        let mut main = None;
        for index in 0..self.nodes {
            let mut command = self.worker_command(run, &logs.join(format!("{}.node{index}.log", run.id)))?;
            if self.nodes > 1 {
                command
                    .env("AWS_BATCH_JOB_NODE_INDEX", index.to_string())
                    .env("AWS_BATCH_JOB_MAIN_NODE_INDEX", "0")
                    .env("AWS_BATCH_JOB_NUM_NODES", self.nodes.to_string())
                    .env("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS", "127.0.0.1")
                    .env("CLOUDRUN_NODE_ADDRESS", format!("127.0.0.{}", index + 1))
                    .env("CLOUDRUN_RENDEZVOUS_PORT", port.to_string());
            }
            // The main node leads a process group of its own, and the other nodes join it, so
            // that stop reaches every node, mpirun and every rank, and a server restart does not.
            let group = main.as_ref().map(|(handle, _): &(JobHandle, _)| handle.pid).unwrap_or(0);
            command.process_group(group);
            let child = command.spawn().map_err(|e| SchedulerError(format!("cannot start the worker: {e}")))?;
            let pid = child.id().ok_or_else(|| SchedulerError("the worker exited at once".into()))? as i32;
            if main.is_none() {
                let handle = JobHandle::for_pid(pid).ok_or_else(|| SchedulerError("the worker exited at once".into()))?;
                main = Some((handle, child));
            } else {
                // Child nodes end when the main node releases them or disappears.
                tokio::spawn(async move {
                    let mut child = child;
                    let _ = child.wait().await;
                });
            }
        }
        let (handle, child) = main.ok_or_else(|| SchedulerError("runner.nodes must be at least 1".into()))?;
        info!(run_id = %run.id, pid = handle.pid, nodes = self.nodes, "worker started");
        monitor::spawn(services, self.files.clone(), run.id.clone(), handle, Some(child));
        Ok(handle.job_id())
    }

    async fn terminate(&self, run: &Run) -> Result<(), SchedulerError> {
        let Some(handle) = run.job_id.as_deref().and_then(JobHandle::parse) else {
            return Ok(());
        };
        handle.signal_group(Signal::SIGTERM);
        let run_id = run.id.clone();
        tokio::spawn(async move {
            // The worker stops MPI and publishes the outputs; anything left after the grace time is killed.
            for _ in 0..150 {
                if !handle.is_alive() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            warn!(run_id = %run_id, pid = handle.pid, "worker ignored SIGTERM for 30 s; sending SIGKILL");
            handle.signal_group(Signal::SIGKILL);
        });
        Ok(())
    }
}
