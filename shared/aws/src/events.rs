//! EventBridge "Batch Job State Change" events and their effect on runs.
//!
//! Batch sends an event for every status a job passes through, at least once and in no
//! guaranteed order. Applying one is idempotent: `apply_job_update` moves a run only forward and
//! never changes a finished run, so duplicates and late events change nothing.

use std::collections::HashMap;

use cloudrun_core::api::jobs::{apply_job_update, JobUpdate};
use cloudrun_core::api::Services;
use cloudrun_core::error::ApiError;
use cloudrun_core::ports::Area;
use cloudrun_core::run::{Id, RunError, Status};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::batch::{RUN_ID_PARAMETER, RUN_ID_TAG};

/// The `detail` of a "Batch Job State Change" event: the fields of DescribeJobs cloudrun reads.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobDetail {
    pub job_id: String,
    #[serde(default)]
    pub job_name: String,
    /// SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED or FAILED.
    pub status: String,
    #[serde(default)]
    pub status_reason: Option<String>,
    #[serde(default)]
    pub parameters: HashMap<String, String>,
    #[serde(default)]
    pub tags: HashMap<String, String>,
}

/// The effect of one event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventOutcome {
    Applied(Id),
    /// The event was not about a current cloudrun job; the reason is for the log.
    Ignored(String),
}

impl BatchJobDetail {
    /// Returns the run the job belongs to, from its parameters or, failing that, its tags.
    pub fn run_id(&self) -> Option<Id> {
        let text = self.parameters.get(RUN_ID_PARAMETER).or_else(|| self.tags.get(RUN_ID_TAG))?;
        text.parse().ok()
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "SUCCEEDED" | "FAILED")
    }

    /// Maps the job status to a run update, or `None` for a status Batch does not document.
    pub fn job_update(&self) -> Option<JobUpdate> {
        match self.status.as_str() {
            "SUBMITTED" | "PENDING" | "RUNNABLE" | "STARTING" => Some(JobUpdate::Starting),
            "RUNNING" => Some(JobUpdate::Active),
            "SUCCEEDED" => Some(JobUpdate::Succeeded),
            "FAILED" => {
                let reason = self.status_reason.as_deref().filter(|r| !r.is_empty()).unwrap_or("no reason given");
                Some(JobUpdate::Failed(RunError {
                    status: "job_failed".into(),
                    message: format!("the Batch job failed: {reason}"),
                }))
            }
            _ => None,
        }
    }
}

/// Applies one event to its run: the outputs stored so far when the job ended, then its status.
pub async fn apply_batch_event(services: &Services, detail: &BatchJobDetail) -> Result<EventOutcome, ApiError> {
    let ignored = |reason: String| Ok(EventOutcome::Ignored(reason));
    // Multi-node parallel jobs also report each node as `<job id>#<node index>`; the parent job decides.
    if detail.job_id.contains('#') {
        return ignored(format!("job {} is a node of a multi-node job", detail.job_id));
    }
    let Some(id) = detail.run_id() else {
        return ignored(format!("job {} carries no cloudrun run id", detail.job_id));
    };
    let Some(update) = detail.job_update() else {
        return ignored(format!("job {} has the unknown status {}", detail.job_id, detail.status));
    };
    let Some(run) = services.runs.get(&id).await? else {
        return ignored(format!("run {id} of job {} does not exist", detail.job_id));
    };
    if run.job_id.as_deref().is_some_and(|job| job != detail.job_id) {
        return ignored(format!("job {} is not the current job {:?} of run {id}", detail.job_id, run.job_id));
    }

    if run.status == Status::Stopped && !detail.is_terminal() {
        terminate_late_job(services, &run, &detail.job_id).await;
    }
    if detail.is_terminal() {
        let outputs = services.files.list(&id, Area::Outputs).await?;
        apply_job_update(services, &id, JobUpdate::Outputs(outputs)).await?;
    }
    apply_job_update(services, &id, update).await?;
    info!(run_id = %id, job_id = %detail.job_id, job_status = %detail.status, "batch job event applied");
    Ok(EventOutcome::Applied(id))
}

/// Ends a job still alive after its run was stopped, such as one submitted while the stop ran.
async fn terminate_late_job(services: &Services, run: &cloudrun_core::run::Run, job_id: &str) {
    let mut target = run.clone();
    target.job_id = Some(job_id.to_string());
    match services.scheduler.terminate(&target).await {
        Ok(()) => info!(run_id = %run.id, job_id, "terminated the job of a stopped run"),
        Err(error) => warn!(run_id = %run.id, job_id, %error, "terminating the job of a stopped run failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(status: &str, reason: Option<&str>) -> BatchJobDetail {
        BatchJobDetail {
            job_id: "4c7599ae-0a82-49aa-ba5a-4727fcce14a8".into(),
            job_name: "cloudrun-run".into(),
            status: status.into(),
            status_reason: reason.map(str::to_string),
            parameters: HashMap::new(),
            tags: HashMap::new(),
        }
    }

    #[test]
    fn statuses_map_to_updates() {
        for status in ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING"] {
            assert_eq!(detail(status, None).job_update(), Some(JobUpdate::Starting), "{status}");
        }
        assert_eq!(detail("RUNNING", None).job_update(), Some(JobUpdate::Active));
        assert_eq!(detail("SUCCEEDED", None).job_update(), Some(JobUpdate::Succeeded));
        assert_eq!(detail("DELETED", None).job_update(), None);
    }

    #[test]
    fn failure_keeps_status_reason() {
        let Some(JobUpdate::Failed(error)) = detail("FAILED", Some("Essential container in task exited")).job_update()
        else {
            panic!("FAILED maps to Failed");
        };
        assert_eq!(error.status, "job_failed");
        assert!(error.message.contains("Essential container in task exited"), "{}", error.message);
    }

    #[test]
    fn run_id_from_parameters_or_tags() {
        let id = Id::new_random();
        let mut event = detail("RUNNING", None);
        assert_eq!(event.run_id(), None);
        event.tags.insert(RUN_ID_TAG.into(), id.to_string());
        assert_eq!(event.run_id(), Some(id.clone()));
        event.parameters.insert(RUN_ID_PARAMETER.into(), "not-an-id".into());
        assert_eq!(event.run_id(), None, "the parameter wins over the tag");
    }

    #[test]
    fn detail_parses_from_event_json() {
        let json = r#"{"jobName": "cloudrun-x", "jobId": "abc", "jobQueue": "arn:q", "status": "FAILED",
            "statusReason": "Terminated", "attempts": [], "createdAt": 1641345472000,
            "parameters": {"run_id": "0123456789abcdef0123456789abcdef", "cores": "72"}, "tags": {}}"#;
        let detail: BatchJobDetail = serde_json::from_str(json).expect("parses");
        assert_eq!(detail.status_reason.as_deref(), Some("Terminated"));
        assert_eq!(detail.run_id().map(|i| i.to_string()).as_deref(), Some("0123456789abcdef0123456789abcdef"));
    }
}
