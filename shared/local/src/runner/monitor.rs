//! Watches worker processes: a worker that ends while its run is still
//! starting or active died without recording the end, so the run becomes
//! `error`. After a restart, live workers are watched again.

use std::time::Duration;

use cloudrun_core::api::jobs::{apply_job_update, JobUpdate};
use cloudrun_core::api::Services;
use cloudrun_core::ports::{Area, FileStore};
use cloudrun_core::run::{Id, RunError};
use tokio::process::Child;
use tracing::{error, info, warn};

use super::process::JobHandle;
use crate::files::FsFileStore;

/// Watches the worker in a background task until it ends.
pub fn spawn(services: Services, files: FsFileStore, id: Id, handle: JobHandle, child: Option<Child>) {
    tokio::spawn(async move {
        let code = match child {
            Some(mut child) => child.wait().await.ok().and_then(|s| s.code()),
            None => {
                while handle.is_alive() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                None
            }
        };
        if let Ok(Some(run)) = services.runs.get(&id).await {
            info!(run_id = %id, status = %run.status, exit_code = ?code, "worker ended");
        }
        // Whatever the worker left running in its group (mpirun, ranks, other nodes) goes with it.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(handle.pid), nix::sys::signal::Signal::SIGKILL);
        let reason = format!("the worker process (pid {}) ended with exit code {code:?} without recording the run's end", handle.pid);
        if let Err(error) = mark_lost(&services, &files, &id, "worker_died", reason).await {
            error!(run_id = %id, %error, "recording a dead worker failed");
        }
    });
}

/// Marks the run `error` if it is still starting or active, keeping the outputs its
/// worker left in the run directory. A run whose end is already recorded is left as it is.
async fn mark_lost(services: &Services, files: &FsFileStore, id: &Id, status: &str, message: String) -> Result<(), String> {
    let run = services.runs.get(id).await.map_err(|e| e.to_string())?.ok_or("run record vanished")?;
    if !run.status.is_running() {
        return Ok(());
    }
    warn!(run_id = %id, %message, "run lost its worker");
    let inputs: Vec<&str> = run.input_files.iter().map(|f| f.filename.as_str()).collect();
    for path in cloudrun_worker::follow::output_candidates(&files.work_dir(id), &inputs, true) {
        if let Err(error) = files.publish_output(id, &path).await {
            warn!(run_id = %id, file = %path.display(), %error, "publishing an output failed");
        }
    }
    let outputs = files.list(id, Area::Outputs).await.map_err(|e| e.to_string())?;
    apply_job_update(services, id, JobUpdate::Outputs(outputs)).await.map_err(|e| e.to_string())?;
    let failure = RunError { status: status.into(), message };
    apply_job_update(services, id, JobUpdate::Failed(failure)).await.map_err(|e| e.to_string())
}

/// Finds runs that were starting or active when the server stopped: watches live
/// workers again and records the end of runs whose worker is gone.
pub async fn recover_runs(services: &Services, files: &FsFileStore) -> Result<(), String> {
    let runs = services.runs.list_running().await.map_err(|e| e.to_string())?;
    for run in runs {
        let handle = run.job_id.as_deref().and_then(JobHandle::parse);
        match handle {
            Some(handle) if handle.is_alive() => {
                info!(run_id = %run.id, pid = handle.pid, "reattached to a running worker");
                spawn(services.clone(), files.clone(), run.id.clone(), handle, None);
            }
            _ => {
                let pid = handle.map(|h| h.pid.to_string()).unwrap_or_else(|| "none".into());
                let message = format!(
                    "the server restarted while the run was `{}` and its worker process (pid {pid}) was no longer running",
                    run.status
                );
                if let Err(error) = mark_lost(services, files, &run.id, "lost", message).await {
                    error!(run_id = %run.id, %error, "recording the end of a lost run failed");
                }
            }
        }
    }
    Ok(())
}
