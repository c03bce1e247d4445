//! The real engine: stages WRF's tables and executables into the run
//! directory, runs ideal.exe first for idealised cases, then wrf.exe under MPI.

use std::path::Path;
use std::process::Command;

use super::EngineArgs;

/// Marker file written just before wrf.exe starts, so the runner can tell the rsl logs are wrf.exe's.
pub const STARTED_MARKER: &str = ".wrf-started";

pub fn run(args: &EngineArgs, wrf_dir: &Path) -> Result<i32, String> {
    let run_dir = &args.run_dir;
    stage_tables(wrf_dir, run_dir)?;
    link(&wrf_dir.join("main").join("wrf.exe"), &run_dir.join("wrf.exe"))?;

    if args.ideal {
        link(&wrf_dir.join("main").join("ideal.exe"), &run_dir.join("ideal.exe"))?;
        println!("cloudrun engine: running ideal.exe");
        let status = launcher(args, 1, "./ideal.exe")?.status().map_err(|e| format!("cannot start {}: {e}", args.mpirun))?;
        let log = std::fs::read_to_string(run_dir.join("rsl.out.0000")).unwrap_or_default();
        keep_ideal_logs(run_dir);
        if !status.success() || !run_dir.join("wrfinput_d01").exists() {
            let detail = cloudrun_core::rsl::fatal_message(&log).unwrap_or_else(|| cloudrun_core::rsl::tail(&log, 10));
            return Err(format!("ideal.exe failed ({status}): {detail}"));
        }
    }

    std::fs::write(run_dir.join(STARTED_MARKER), b"").map_err(|e| format!("cannot write the start marker: {e}"))?;
    println!("cloudrun engine: running wrf.exe on {} MPI ranks", args.cores);
    let status = launcher(args, args.cores, "./wrf.exe")?.status().map_err(|e| format!("cannot start {}: {e}", args.mpirun))?;
    println!("cloudrun engine: wrf.exe ended ({status})");
    Ok(status.code().unwrap_or(1))
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

fn launcher(args: &EngineArgs, ranks: i64, program: &str) -> Result<Command, String> {
    let mut command = Command::new(&args.mpirun);
    command.current_dir(&args.run_dir).args(&args.mpirun_args);
    if is_open_mpi(&args.mpirun) {
        // Open MPI rejects running as root and more ranks than cores without these settings.
        command.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        command.arg("--oversubscribe");
    }
    command.arg("-np").arg(ranks.to_string()).arg(program);
    Ok(command)
}

fn is_open_mpi(mpirun: &str) -> bool {
    Command::new(mpirun)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("Open MPI") || String::from_utf8_lossy(&o.stderr).contains("Open MPI"))
        .unwrap_or(false)
}
