//! Engines that execute a run in its run directory: WRF under MPI when a WRF
//! build is configured, otherwise the dry-run engine.

pub mod dry_run;
pub mod wrf;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

/// Settings of one engine run.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The run directory, holding namelist.input and the staged inputs.
    pub run_dir: PathBuf,
    /// MPI ranks for wrf.exe.
    pub cores: i64,
    /// WRF version the run asked for.
    pub version: String,
    /// WRF build to run; `None` runs the dry-run engine.
    pub wrf_dir: Option<PathBuf>,
    /// Whether ideal.exe runs before wrf.exe.
    pub ideal: bool,
    pub mpirun: String,
    /// Extra launcher arguments, placed before `-np`.
    pub mpirun_args: Vec<String>,
    /// MPI hostfile listing the job's nodes; `None` runs every rank on this node.
    pub hostfile: Option<PathBuf>,
    /// Wall seconds the dry-run engine spends on the whole run.
    pub dry_run_seconds: f64,
    /// Most `Timing for main` lines the dry-run engine writes for d01.
    pub max_logged_steps: u64,
}

/// Resolves once `stop` turns true (or its sender is gone), holding no borrow across awaits.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Runs the engine until it ends or `stop` turns true; returns its exit code.
pub async fn run(settings: EngineSettings, mut stop: watch::Receiver<bool>) -> Result<i32, String> {
    if settings.wrf_dir.is_some() {
        return wrf::run(&settings, stop).await;
    }
    let flag = Arc::new(AtomicBool::new(false));
    let thread_flag = Arc::clone(&flag);
    let mut simulation = tokio::task::spawn_blocking(move || dry_run::run(&settings, &thread_flag));
    tokio::select! {
        result = &mut simulation => result.map_err(|e| e.to_string())?,
        _ = stopped(&mut stop) => {
            flag.store(true, Ordering::Relaxed);
            simulation.await.map_err(|e| e.to_string())?
        }
    }
}
