//! The local runner: executes started runs as local processes, one run
//! directory each, and reports their progress, outputs and end to the run store.

mod monitor;
pub mod process;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use cloudrun_core::api::Services;
use cloudrun_core::config::RunnerConfig;
use cloudrun_core::ports::{Area, Scheduler, SchedulerError};
use cloudrun_core::run::Run;
use nix::sys::signal::Signal;
use tracing::{info, warn};

use crate::files::FsFileStore;
use process::JobHandle;

pub use monitor::recover_runs;

/// Starts engine processes and watches them.
pub struct LocalScheduler {
    config: RunnerConfig,
    files: FsFileStore,
    /// The `cloudrun` executable, which also contains the engines.
    program: PathBuf,
    /// Set once the services exist, since the monitors write through them.
    services: OnceLock<Services>,
}

impl LocalScheduler {
    pub fn new(config: RunnerConfig, files: FsFileStore, program: PathBuf) -> Arc<LocalScheduler> {
        Arc::new(LocalScheduler { config, files, program, services: OnceLock::new() })
    }

    pub fn attach(&self, services: Services) {
        let _ = self.services.set(services);
    }

    fn services(&self) -> Result<Services, SchedulerError> {
        self.services.get().cloned().ok_or_else(|| SchedulerError("runner used before the server was ready".into()))
    }

    /// Copies (hard-links where possible) the run's stored inputs into its run directory.
    async fn stage_inputs(&self, run: &Run, work_dir: &std::path::Path) -> Result<(), SchedulerError> {
        let error = |e: std::io::Error| SchedulerError(format!("staging inputs of run {}: {e}", run.id));
        if work_dir.exists() {
            tokio::fs::remove_dir_all(work_dir).await.map_err(error)?;
        }
        tokio::fs::create_dir_all(work_dir).await.map_err(error)?;
        let inputs = self.files.area_dir(&run.id, Area::Inputs);
        for file in &run.input_files {
            let source = inputs.join(&file.filename);
            let target = work_dir.join(&file.filename);
            if tokio::fs::hard_link(&source, &target).await.is_err() {
                tokio::fs::copy(&source, &target).await.map_err(error)?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Scheduler for LocalScheduler {
    fn engine(&self) -> String {
        if self.config.wrf_dir.is_some() { "wrf" } else { "dry-run" }.to_string()
    }

    async fn submit(&self, run: &Run) -> Result<String, SchedulerError> {
        let services = self.services()?;
        let work_dir = self.files.work_dir(&run.id);
        self.stage_inputs(run, &work_dir).await?;
        let log = std::fs::File::create(work_dir.join("engine.log"))
            .map_err(|e| SchedulerError(format!("cannot create engine.log: {e}")))?;
        let log_err = log.try_clone().map_err(|e| SchedulerError(e.to_string()))?;

        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("engine")
            .arg("--run-dir")
            .arg(&work_dir)
            .arg("--cores")
            .arg(run.cores.unwrap_or(1).to_string())
            .arg("--version")
            .arg(&run.version)
            .arg("--mpirun")
            .arg(&self.config.mpirun)
            .arg("--dry-run-seconds")
            .arg(self.config.dry_run_seconds.to_string())
            .arg("--max-logged-steps")
            .arg(self.config.dry_run_max_logged_steps.to_string())
            .current_dir(&work_dir)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own process group, so that stop reaches mpirun and every rank, and a server restart does not.
            .process_group(0)
            .kill_on_drop(false);
        for argument in &self.config.mpirun_args {
            command.arg(format!("--mpirun-arg={argument}"));
        }
        if let Some(wrf_dir) = &self.config.wrf_dir {
            command.arg("--wrf-dir").arg(wrf_dir);
        }
        if run.ideal {
            command.arg("--ideal");
        }
        let child = command.spawn().map_err(|e| SchedulerError(format!("cannot start the engine: {e}")))?;
        let pid = child.id().ok_or_else(|| SchedulerError("the engine exited at once".into()))? as i32;
        let handle = JobHandle::for_pid(pid).ok_or_else(|| SchedulerError("the engine exited at once".into()))?;
        info!(run_id = %run.id, pid, "engine started");
        monitor::spawn(services, self.files.clone(), self.config.clone(), run.id.clone(), handle, Some(child));
        Ok(handle.job_id())
    }

    async fn terminate(&self, run: &Run) -> Result<(), SchedulerError> {
        let Some(handle) = run.job_id.as_deref().and_then(JobHandle::parse) else {
            return Ok(());
        };
        handle.signal_group(Signal::SIGTERM);
        let run_id = run.id.clone();
        tokio::spawn(async move {
            // MPI launchers forward SIGTERM to the ranks; anything left after the grace time is killed.
            for _ in 0..50 {
                if !handle.is_alive() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            warn!(run_id = %run_id, pid = handle.pid, "engine ignored SIGTERM; sending SIGKILL");
            handle.signal_group(Signal::SIGKILL);
        });
        Ok(())
    }
}
