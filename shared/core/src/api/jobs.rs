//! Job reports about a run (the local runner's and Batch's events), applied
//! so that a run only moves forward and a finished run keeps its status.

use tracing::info;

use super::modify_run;
use super::Services;
use crate::error::ApiError;
use crate::ports::RunStore;
use crate::run::{Id, OutputFile, RunError, Status};

/// One report from a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobUpdate {
    /// The job is queued or staging (Batch SUBMITTED ... STARTING).
    Starting,
    /// WRF is computing (Batch RUNNING).
    Active,
    Progress { percent_complete: f64, remaining_time: Option<i64> },
    /// The output files stored so far.
    Outputs(Vec<OutputFile>),
    /// WRF printed `SUCCESS COMPLETE WRF`.
    Succeeded,
    Failed(RunError),
}

/// Applies `update` to the run; stale or duplicate updates change nothing.
pub async fn apply_job_update(services: &Services, id: &Id, update: JobUpdate) -> Result<(), ApiError> {
    apply_job_update_to(services.runs.as_ref(), id, update).await
}

/// Applies `update` through the run store alone, as the worker inside a job does.
pub async fn apply_job_update_to(runs: &dyn RunStore, id: &Id, update: JobUpdate) -> Result<(), ApiError> {
    let mut changed = None;
    modify_run(runs, id, None, |run| {
        changed = Some(run.status);
        match &update {
            JobUpdate::Starting => {}
            JobUpdate::Active => {
                if run.status == Status::Starting {
                    run.status = Status::Active;
                }
            }
            JobUpdate::Progress { percent_complete, remaining_time } => {
                if run.status.is_running() {
                    // Progress never goes backwards, whatever order reports arrive in.
                    let previous = run.percent_complete.unwrap_or(0.0);
                    run.percent_complete = Some(percent_complete.max(previous).min(100.0));
                    run.remaining_time = *remaining_time;
                }
            }
            JobUpdate::Outputs(files) => {
                // A stopped or failed run keeps the outputs written before it ended.
                run.output_files = files.clone();
            }
            JobUpdate::Succeeded => {
                if run.status.is_running() {
                    run.finish(Status::Done, None);
                }
            }
            JobUpdate::Failed(error) => {
                if run.status.is_running() {
                    run.finish(Status::Error, Some(error.clone()));
                }
            }
        }
        Ok(())
    })
    .await
    .map(|run| {
        if changed != Some(run.status) {
            info!(run_id = %id, status = %run.status, "run status changed");
        }
    })
}
