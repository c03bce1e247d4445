//! `cloudrun worker`: one run executed by the shared worker code as a job of
//! one node, reporting to the local SQLite store and file store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cloudrun_core::config::Config;
use cloudrun_core::ports::{Area, FileStore};
use cloudrun_core::run::{Id, OutputFile};
use cloudrun_worker::files::RunFiles;
use cloudrun_worker::job::{run_main, JobEnd, JobSettings};
use cloudrun_worker::node::{node_env, Role};
use cloudrun_worker::rendezvous::{announce_and_wait, Announcement};
use tokio::sync::watch;

use crate::app::database_path;
use crate::files::FsFileStore;
use crate::store::SqliteStore;

/// Stored files reached on disk: inputs and outputs are hard links where possible.
pub struct LocalRunFiles {
    pub files: FsFileStore,
    pub run: Id,
}

#[async_trait]
impl RunFiles for LocalRunFiles {
    async fn fetch_input(&self, name: &str, target: &Path) -> Result<(), String> {
        let source = self.files.area_dir(&self.run, Area::Inputs).join(name);
        if tokio::fs::hard_link(&source, target).await.is_ok() {
            return Ok(());
        }
        tokio::fs::copy(&source, target).await.map(|_| ()).map_err(|e| format!("cannot stage input {name}: {e}"))
    }

    async fn publish_output(&self, path: &Path) -> Result<(), String> {
        self.files.publish_output(&self.run, path).await.map_err(|e| e.to_string())
    }

    async fn list_outputs(&self) -> Result<Vec<OutputFile>, String> {
        self.files.list(&self.run, Area::Outputs).await.map_err(|e| e.to_string())
    }
}

/// Runs this node's part of the job for `run_id`; returns the process exit code.
/// Batch's node variables (set by the runner for multi-node runs) select the role.
pub async fn run(config: Config, data_dir: &Path, run_id: &str) -> Result<i32, String> {
    let id: Id = run_id.parse().map_err(|_| format!("invalid run id `{run_id}`"))?;
    let node = node_env(|name| std::env::var(name).ok())?;
    let runner = &config.runner;
    let timeout = Duration::from_secs(runner.rendezvous_timeout_seconds);
    let nodes = match &node.role {
        Role::Child { main_address, .. } => {
            let main = format!("{main_address}:{}", node.rendezvous_port);
            let announcement = Announcement { index: node.index, address: node.address.clone(), slots: runner.slots_per_node };
            let released = announce_and_wait(&main, &announcement, timeout).await?;
            return Ok(if released { 0 } else { 1 });
        }
        Role::Main { nodes } => *nodes,
    };

    let store = SqliteStore::open(&database_path(data_dir)).map_err(|e| e.to_string())?;
    let files = FsFileStore::open(data_dir, "http://127.0.0.1", &config.uploads).map_err(|e| e.to_string())?;
    let settings = JobSettings {
        run_id: id.clone(),
        work_dir: files.work_dir(&id),
        wrf_dir: runner.wrf_dir.clone(),
        mpirun: runner.mpirun.clone(),
        mpirun_args: runner.mpirun_args.clone(),
        poll: Duration::from_millis(runner.poll_milliseconds.max(50)),
        stall: Duration::from_secs(runner.stall_seconds),
        dry_run_seconds: runner.dry_run_seconds,
        max_logged_steps: runner.dry_run_max_logged_steps,
        nodes,
        node_index: node.index,
        rendezvous_bind: format!("{}:{}", node.address, node.rendezvous_port),
        rendezvous_timeout: timeout,
        node_address: node.address.clone(),
        slots: runner.slots_per_node,
    };
    let run_files = Arc::new(LocalRunFiles { files, run: id });
    let (shutdown_sender, shutdown) = watch::channel(false);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        terminate.recv().await;
        let _ = shutdown_sender.send(true);
    });
    let end = run_main(Arc::new(store), run_files, settings, shutdown).await?;
    Ok(match end {
        JobEnd::Succeeded => 0,
        JobEnd::Failed => 1,
        JobEnd::Terminated => 143,
    })
}

/// Returns the configuration file given with `--config`, or else the one in the data directory.
pub fn config_path(data_dir: &Path, explicit: Option<PathBuf>) -> Option<PathBuf> {
    let default_path = data_dir.join("cloudrun.toml");
    explicit.or_else(|| default_path.exists().then_some(default_path))
}
