//! The main node's work: stage the run's inputs, gather the other nodes,
//! run the engine, follow it, publish its outputs and record how it ended.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cloudrun_core::api::jobs::JobUpdate;
use cloudrun_core::ports::RunStore;
use cloudrun_core::run::{FileState, Id, RunError};
use cloudrun_core::time::WrfTime;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::engine::{self, EngineSettings};
use crate::files::RunFiles;
use crate::follow::Follower;
use crate::rendezvous::{self, Announcement, Gathered};

/// Settings of the main node, from the command line and the configuration.
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub run_id: Id,
    pub work_dir: PathBuf,
    pub wrf_dir: Option<PathBuf>,
    pub mpirun: String,
    pub mpirun_args: Vec<String>,
    pub poll: Duration,
    /// A run whose rsl.out.0000 does not grow for this long is ended as `error`.
    pub stall: Duration,
    pub dry_run_seconds: f64,
    pub max_logged_steps: u64,
    /// Nodes in the job, this one included.
    pub nodes: usize,
    /// This node's job index (Batch's `AWS_BATCH_JOB_NODE_INDEX`).
    pub node_index: usize,
    /// Address the main node listens on for the rendezvous, such as `0.0.0.0:7077`.
    pub rendezvous_bind: String,
    pub rendezvous_timeout: Duration,
    /// This node's address as the other nodes reach it, for the MPI hostfile.
    pub node_address: String,
    /// MPI ranks this node runs.
    pub slots: usize,
}

/// End state of a job, which sets the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    Succeeded,
    Failed,
    /// SIGTERM arrived (Batch terminate after `stop`, or the local runner's stop).
    Terminated,
}

fn failure(status: &str, message: String) -> RunError {
    RunError { status: status.into(), message }
}

/// Runs the main node's part of the job to its end.
pub async fn run_main(
    runs: Arc<dyn RunStore>,
    files: Arc<dyn RunFiles>,
    settings: JobSettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<JobEnd, String> {
    let id = settings.run_id.clone();
    let run = runs.get(&id).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("run {id} not found"))?;
    let window = run.model.as_ref().and_then(|m| Some((WrfTime::parse(m.start_time.first()?)?, WrfTime::parse(m.end_time.first()?)?)));
    let inputs: Vec<String> = run.input_files.iter().filter(|f| f.state == FileState::Complete).map(|f| f.filename.clone()).collect();
    let follower = Follower::new(Arc::clone(&runs), Arc::clone(&files), id.clone(), settings.work_dir.clone(), window, inputs.clone());

    if let Err(message) = stage_inputs(files.as_ref(), &settings, &inputs).await {
        warn!(run_id = %id, error = %message, "staging inputs failed");
        follower.update(JobUpdate::Failed(failure("staging_failed", message))).await?;
        return Ok(JobEnd::Failed);
    }

    let gathered = match gather_nodes(&settings).await {
        Ok(gathered) => gathered,
        Err(message) => {
            warn!(run_id = %id, error = %message, "nodes missing");
            follower.update(JobUpdate::Failed(failure("nodes_missing", message))).await?;
            return Ok(JobEnd::Failed);
        }
    };
    let engine_settings = EngineSettings {
        run_dir: settings.work_dir.clone(),
        cores: run.cores.unwrap_or(1),
        version: run.version.clone(),
        wrf_dir: settings.wrf_dir.clone(),
        ideal: run.ideal,
        mpirun: settings.mpirun.clone(),
        mpirun_args: settings.mpirun_args.clone(),
        hostfile: gathered.as_ref().map(|_| settings.work_dir.join("hostfile")),
        dry_run_seconds: settings.dry_run_seconds,
        max_logged_steps: settings.max_logged_steps,
    };
    let end = follow_engine(follower, engine_settings, &settings, &mut shutdown).await;
    if let Some(gathered) = gathered {
        gathered.release().await;
    }
    end
}

async fn stage_inputs(files: &dyn RunFiles, settings: &JobSettings, inputs: &[String]) -> Result<(), String> {
    if settings.work_dir.exists() {
        tokio::fs::remove_dir_all(&settings.work_dir).await.map_err(|e| format!("cannot clear the run directory: {e}"))?;
    }
    tokio::fs::create_dir_all(&settings.work_dir).await.map_err(|e| format!("cannot create the run directory: {e}"))?;
    for name in inputs {
        files.fetch_input(name, &settings.work_dir.join(name)).await?;
    }
    Ok(())
}

/// Gathers the child nodes and writes the hostfile; `None` for a single-node job.
async fn gather_nodes(settings: &JobSettings) -> Result<Option<Gathered>, String> {
    if settings.nodes <= 1 {
        return Ok(None);
    }
    let listener = TcpListener::bind(&settings.rendezvous_bind)
        .await
        .map_err(|e| format!("cannot listen for the other nodes on {}: {e}", settings.rendezvous_bind))?;
    let expected: Vec<usize> = (0..settings.nodes).filter(|i| *i != settings.node_index).collect();
    let gathered = rendezvous::gather(&listener, &expected, settings.rendezvous_timeout).await?;
    let main = Announcement { index: settings.node_index, address: settings.node_address.clone(), slots: settings.slots };
    let hostfile = rendezvous::hostfile(&main, &gathered.nodes);
    tokio::fs::write(settings.work_dir.join("hostfile"), hostfile).await.map_err(|e| format!("cannot write the hostfile: {e}"))?;
    info!(nodes = settings.nodes, "all nodes announced");
    Ok(Some(gathered))
}

/// Runs the engine while following it; records the outcome.
async fn follow_engine(
    mut follower: Follower,
    engine_settings: EngineSettings,
    settings: &JobSettings,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<JobEnd, String> {
    let (stop_sender, stop) = watch::channel(false);
    let mut engine = tokio::spawn(engine::run(engine_settings, stop));
    let (mut stalled, mut terminated) = (false, false);
    let result = loop {
        tokio::select! {
            result = &mut engine => break result.map_err(|e| e.to_string()).and_then(|r| r),
            _ = tokio::time::sleep(settings.poll) => {
                if let Err(error) = follower.observe().await {
                    warn!(run_id = %settings.run_id, %error, "reporting progress failed; retrying at the next poll");
                }
                if !stalled && follower.log_grew_at.elapsed() > settings.stall {
                    warn!(run_id = %settings.run_id, seconds = settings.stall.as_secs(), "rsl log stalled; ending the run");
                    stalled = true;
                    let _ = stop_sender.send(true);
                }
            }
            _ = crate::engine::stopped(shutdown), if !terminated => {
                info!(run_id = %settings.run_id, "terminate requested; stopping MPI");
                terminated = true;
                let _ = stop_sender.send(true);
            }
        }
    };
    if let Err(error) = follower.drain().await {
        warn!(run_id = %settings.run_id, %error, "some outputs could not be stored");
    }

    let (update, end) = if terminated {
        let message = "the job was terminated before WRF finished; the outputs written so far are kept".to_string();
        (JobUpdate::Failed(failure("terminated", message)), JobEnd::Terminated)
    } else if stalled {
        let message = format!(
            "rsl.out.0000 did not grow for {} s, so the run was ended; last lines:\n{}",
            settings.stall.as_secs(),
            cloudrun_core::rsl::tail(&std::fs::read_to_string(settings.work_dir.join("rsl.out.0000")).unwrap_or_default(), 10)
        );
        (JobUpdate::Failed(failure("stalled", message)), JobEnd::Failed)
    } else {
        match result {
            Err(message) => (JobUpdate::Failed(failure("engine_failed", message)), JobEnd::Failed),
            Ok(_) if follower.progress.success => (JobUpdate::Succeeded, JobEnd::Succeeded),
            Ok(_) => (JobUpdate::Failed(follower.failure()), JobEnd::Failed),
        }
    };
    info!(run_id = %settings.run_id, end = ?end, "job ended");
    follower.record_end(update).await?;
    Ok(end)
}
