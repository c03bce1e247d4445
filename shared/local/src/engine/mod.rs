//! The programs a run executes in its run directory, started by the runner as
//! `cloudrun engine ...` in a process group of their own: real WRF under MPI,
//! or the dry-run engine when no WRF build is configured.

pub mod dry_run;
pub mod wrf;

use std::path::PathBuf;

/// Settings of one engine process.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// The run directory, holding namelist.input and the staged inputs.
    #[arg(long)]
    pub run_dir: PathBuf,
    /// MPI ranks for wrf.exe.
    #[arg(long)]
    pub cores: i64,
    /// WRF version the run asked for.
    #[arg(long)]
    pub version: String,
    /// WRF build to run; without it the dry-run engine runs.
    #[arg(long)]
    pub wrf_dir: Option<PathBuf>,
    /// Run ideal.exe before wrf.exe.
    #[arg(long)]
    pub ideal: bool,
    #[arg(long, default_value = "mpirun")]
    pub mpirun: String,
    /// Extra launcher argument, repeatable.
    #[arg(long = "mpirun-arg", allow_hyphen_values = true)]
    pub mpirun_args: Vec<String>,
    /// Wall seconds the dry-run engine spends on the whole run.
    #[arg(long, default_value_t = 8.0)]
    pub dry_run_seconds: f64,
    /// Most `Timing for main` lines the dry-run engine writes for d01.
    #[arg(long, default_value_t = 2000)]
    pub max_logged_steps: u64,
}

/// Runs the engine the arguments select; returns the process exit code.
pub fn run(args: &EngineArgs) -> i32 {
    let result = match &args.wrf_dir {
        Some(wrf_dir) => wrf::run(args, wrf_dir),
        None => dry_run::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("cloudrun engine: {error}");
            1
        }
    }
}
