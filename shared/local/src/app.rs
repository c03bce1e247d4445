//! Assembles the local deployment: stores, runner and fetcher behind the core's ports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cloudrun_core::api::Services;
use cloudrun_core::config::Config;
use tracing::info;

use crate::fetch::LocalFetcher;
use crate::files::FsFileStore;
use crate::runner::{recover_runs, LocalScheduler};
use crate::server::{router, AppState};
use crate::store::SqliteStore;

/// Returns the SQLite database path of a local deployment.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("cloudrun.sqlite")
}

/// Binds `addr`, recovers runs left by a previous server, and serves until the process ends.
pub async fn serve(
    config: Config,
    data_dir: &Path,
    config_file: Option<PathBuf>,
    addr: &str,
    public_url: Option<String>,
) -> Result<(), String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create data directory {}: {e}", data_dir.display()))?;
    // Workers run in other folders, so every path handed out is absolute.
    let data_dir = &std::fs::canonicalize(data_dir).map_err(|e| format!("cannot resolve {}: {e}", data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let base_url = public_url.unwrap_or_else(|| format!("http://{local}"));

    let store = SqliteStore::open(&database_path(data_dir)).map_err(|e| e.to_string())?;
    let files = FsFileStore::open(data_dir, &base_url, &config.uploads).map_err(|e| format!("cannot open the file store: {e}"))?;
    let program = std::env::current_exe().map_err(|e| format!("cannot find the cloudrun executable: {e}"))?;
    let engine = if config.runner.wrf_dir.is_some() { "wrf" } else { "dry-run" };
    let config_file = config_file.map(|f| std::fs::canonicalize(&f).unwrap_or(f));
    let scheduler = LocalScheduler::new(engine.to_string(), files.clone(), program, data_dir.to_path_buf(), config_file, config.runner.nodes);
    let fetcher = LocalFetcher::new(config.upload_url.clone(), files.clone()).map_err(|e| format!("upload_url.allowed_networks: {e}"))?;
    let services = Services {
        config: Arc::new(config.clone()),
        runs: Arc::new(store.clone()),
        tokens: Arc::new(store),
        files: Arc::new(files.clone()),
        scheduler: scheduler.clone(),
        fetcher: fetcher.clone(),
    };
    scheduler.attach(services.clone());
    fetcher.attach(services.clone());
    recover_runs(&services, &files).await?;

    info!(address = %local, data_dir = %data_dir.display(), engine, "cloudrun listening");
    // Printed for scripts and tests that start the server on port 0.
    println!("cloudrun listening on http://{local}");
    let app = router(AppState { services, files, base_url });
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(|e| e.to_string())?;
    info!("cloudrun stopped; runs in progress continue in their workers");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C, so that the server finishes the requests it has.
async fn shutdown_signal() {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = terminate.recv() => info!("SIGTERM received; shutting down"),
        _ = tokio::signal::ctrl_c() => info!("interrupt received; shutting down"),
    }
}
