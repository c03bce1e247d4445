//! `cloudrun-worker`: the entrypoint of every node of a Batch job. The main
//! node runs the job and reports to DynamoDB and S3; child nodes announce
//! themselves and serve MPI ranks until the main node releases them.
//!
//! Environment:
//! - `CLOUDRUN_RUN_ID` (or `--run-id`): the run the job executes.
//! - `CLOUDRUN_TABLE`, `CLOUDRUN_BUCKET`: the deployment's table and bucket (main node).
//! - `AWS_ENDPOINT_URL` (optional): an emulator's endpoint; S3 then uses path-style addressing.
//! - Batch's `AWS_BATCH_JOB_NODE_INDEX`, `AWS_BATCH_JOB_MAIN_NODE_INDEX`, `AWS_BATCH_JOB_NUM_NODES`,
//!   `AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS`; `CLOUDRUN_NODE_ADDRESS` and
//!   `CLOUDRUN_RENDEZVOUS_PORT` (default 7077) override the address and port the nodes use.
//! - `WRF_DIR` (a WRF build; unset means the dry-run engine), `CLOUDRUN_MPIRUN` (default
//!   `mpirun`), `CLOUDRUN_MPIRUN_ARGS` (split on blanks), `CLOUDRUN_SLOTS` (MPI ranks per node,
//!   default: the node's CPUs), `CLOUDRUN_SCRATCH` (run directories, default `/scratch`),
//!   `CLOUDRUN_POLL_MILLISECONDS` (default 5000), `CLOUDRUN_STALL_SECONDS` (default 1800),
//!   `CLOUDRUN_RENDEZVOUS_TIMEOUT_SECONDS` (default 600), `CLOUDRUN_AWS_TIMEOUT_SECONDS` (longest
//!   single AWS request attempt, default 20).

mod settings;

use std::sync::Arc;

use cloudrun_worker::files::StoreFiles;
use cloudrun_worker::job::{run_main, JobEnd};
use cloudrun_worker::node::{node_env, Role};
use cloudrun_worker::rendezvous::{announce_and_wait, Announcement};
use tokio::sync::watch;

#[tokio::main]
async fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLOUDRUN_LOG").unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    let code = match run().await {
        Ok(code) => code,
        Err(message) => {
            tracing::error!(error = %message, "worker failed");
            2
        }
    };
    std::process::exit(code);
}

async fn run() -> Result<i32, String> {
    let lookup = |name: &str| std::env::var(name).ok();
    let node = node_env(lookup)?;
    let settings = settings::WorkerSettings::from_env(&lookup, std::env::args().collect())?;

    if let Role::Child { main_address, .. } = &node.role {
        let main = format!("{main_address}:{}", node.rendezvous_port);
        let announcement = Announcement { index: node.index, address: node.address.clone(), slots: settings.slots };
        tracing::info!(index = node.index, main, "announcing to the main node");
        let released = announce_and_wait(&main, &announcement, settings.rendezvous_timeout).await?;
        return Ok(if released { 0 } else { 1 });
    }

    settings.validate_main()?;
    let job = settings.job_settings(&node)?;
    let (runs, files) = settings.stores().await;
    let run_files = Arc::new(StoreFiles { files, run: job.run_id.clone() });
    let (shutdown_sender, shutdown) = watch::channel(false);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        terminate.recv().await;
        let _ = shutdown_sender.send(true);
    });
    let end = run_main(runs, run_files, job, shutdown).await?;
    // Batch records SUCCEEDED for exit code 0 and FAILED otherwise. The run record already contains the reason.
    Ok(match end {
        JobEnd::Succeeded => 0,
        JobEnd::Failed => 1,
        JobEnd::Terminated => 143,
    })
}
