//! The real engine: stages WRF's tables and executables into the run
//! directory, runs ideal.exe first for idealised cases, then wrf.exe under MPI.

use std::path::Path;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::{stopped, EngineSettings};

/// Marker file written just before wrf.exe starts, so that readers can tell the rsl logs are wrf.exe's.
pub const STARTED_MARKER: &str = ".wrf-started";

/// Seconds mpirun gets to end its ranks after SIGTERM before it is killed.
const STOP_GRACE_SECONDS: u64 = 10;

pub async fn run(settings: &EngineSettings, mut stop: watch::Receiver<bool>) -> Result<i32, String> {
    let wrf_dir = settings.wrf_dir.as_deref().ok_or("no WRF build configured")?;
    let run_dir = &settings.run_dir;
    stage_tables(wrf_dir, run_dir)?;
    link(&wrf_dir.join("main").join("wrf.exe"), &run_dir.join("wrf.exe"))?;

    if settings.ideal {
        link(&wrf_dir.join("main").join("ideal.exe"), &run_dir.join("ideal.exe"))?;
        tracing::info!("running ideal.exe");
        let child = launcher(settings, 1, "./ideal.exe").await?;
        let code = wait_or_stop(child, &mut stop).await?;
        let log = std::fs::read_to_string(run_dir.join("rsl.out.0000")).unwrap_or_default();
        keep_ideal_logs(run_dir);
        if *stop.borrow() {
            return Ok(code);
        }
        if code != 0 || !run_dir.join("wrfinput_d01").exists() {
            let detail = cloudrun_core::rsl::fatal_message(&log).unwrap_or_else(|| cloudrun_core::rsl::tail(&log, 10));
            return Err(format!("ideal.exe failed (exit code {code}): {detail}"));
        }
    }

    std::fs::write(run_dir.join(STARTED_MARKER), b"").map_err(|e| format!("cannot write the start marker: {e}"))?;
    tracing::info!(cores = settings.cores, "running wrf.exe");
    let child = launcher(settings, settings.cores, "./wrf.exe").await?;
    let code = wait_or_stop(child, &mut stop).await?;
    tracing::info!(code, "wrf.exe ended");
    Ok(code)
}

/// Waits for the launcher; on stop, sends it SIGTERM (mpirun passes it to every rank), then SIGKILL.
async fn wait_or_stop(mut child: Child, stop: &mut watch::Receiver<bool>) -> Result<i32, String> {
    let status = tokio::select! {
        status = child.wait() => status,
        _ = stopped(stop) => {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
            }
            match tokio::time::timeout(Duration::from_secs(STOP_GRACE_SECONDS), child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    let _ = child.kill().await;
                    child.wait().await
                }
            }
        }
    };
    let status = status.map_err(|e| format!("waiting for the MPI launcher failed: {e}"))?;
    Ok(status.code().unwrap_or(128 + 15))
}

/// Links every file of WRF's `run/` folder that the run directory does not have already.
fn stage_tables(wrf_dir: &Path, run_dir: &Path) -> Result<(), String> {
    let tables = wrf_dir.join("run");
    let entries = std::fs::read_dir(&tables).map_err(|e| format!("cannot read WRF's tables in {}: {e}", tables.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let text = name.to_string_lossy();
        if text == "namelist.input" || text.ends_with(".exe") || run_dir.join(&name).exists() {
            continue;
        }
        link(&entry.path(), &run_dir.join(&name))?;
    }
    Ok(())
}

fn link(source: &Path, target: &Path) -> Result<(), String> {
    if !source.exists() {
        return Err(format!("{} not found; check that WRF_DIR points at a compiled WRF", source.display()));
    }
    let _ = std::fs::remove_file(target);
    std::os::unix::fs::symlink(source, target).map_err(|e| format!("cannot link {}: {e}", source.display()))
}

/// Renames ideal.exe's rsl files so that rsl.out.0000 belongs to wrf.exe.
fn keep_ideal_logs(run_dir: &Path) {
    for entry in std::fs::read_dir(run_dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("rsl.") {
            let _ = std::fs::rename(entry.path(), run_dir.join(format!("ideal.{name}")));
        }
    }
}

async fn launcher(settings: &EngineSettings, ranks: i64, program: &str) -> Result<Child, String> {
    let mut command = Command::new(&settings.mpirun);
    command.current_dir(&settings.run_dir).args(&settings.mpirun_args);
    if is_open_mpi(&settings.mpirun).await {
        // Open MPI rejects running as root, and more ranks than cores, without these settings.
        command.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        command.arg("--oversubscribe");
    }
    if let Some(hostfile) = &settings.hostfile {
        command.arg("--hostfile").arg(hostfile);
    }
    command.arg("-np").arg(ranks.to_string()).arg(program);
    command
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", settings.mpirun))
}

async fn is_open_mpi(mpirun: &str) -> bool {
    match Command::new(mpirun).arg("--version").output().await {
        Ok(output) => {
            String::from_utf8_lossy(&output.stdout).contains("Open MPI")
                || String::from_utf8_lossy(&output.stderr).contains("Open MPI")
        }
        Err(_) => false,
    }
}
