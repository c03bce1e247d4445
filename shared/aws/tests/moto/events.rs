//! Batch job state-change events applied to runs: forward only, duplicates and late events ignored.

use std::collections::HashMap;

use cloudrun_aws::deployment::Deployment;
use cloudrun_aws::events::{apply_batch_event, BatchJobDetail, EventOutcome};
use cloudrun_core::ports::{Area, FileStore, RunStore};
use cloudrun_core::run::{Id, Run, Status};

use crate::helpers::{chunked, deployment};

/// Stores a run in `status` with job `job-1`, as `start` leaves it.
async fn stored_run(deployment: &Deployment, status: Status) -> Id {
    let store = &deployment.store;
    let mut run = Run::new("alice", "4.7.1");
    store.insert(&run).await.expect("insert");
    run.status = status;
    run.cores = Some(36);
    run.job_id = Some("job-1".into());
    store.update(&run).await.expect("update");
    run.id
}

fn event(run: &Id, job_id: &str, status: &str) -> BatchJobDetail {
    BatchJobDetail {
        job_id: job_id.into(),
        job_name: format!("cloudrun-{run}"),
        status: status.into(),
        status_reason: (status == "FAILED").then(|| "Essential container in task exited".to_string()),
        parameters: HashMap::from([("run_id".to_string(), run.to_string())]),
        tags: HashMap::new(),
    }
}

async fn status_of(deployment: &Deployment, id: &Id) -> Run {
    deployment.store.get(id).await.expect("get").expect("present")
}

#[tokio::test]
async fn events_only_move_forward() {
    let (deployment, _) = deployment().await;
    let services = &deployment.services;
    let id = stored_run(&deployment, Status::Starting).await;
    deployment.files.put(&id, Area::Outputs, "wrfout_d01", chunked(vec![1; 100], 10), 1000).await.expect("output");

    let sequence = [
        ("RUNNABLE", Status::Starting),
        ("RUNNING", Status::Active),
        ("STARTING", Status::Active),
        ("RUNNING", Status::Active),
        ("SUCCEEDED", Status::Done),
        ("RUNNING", Status::Done),
        ("FAILED", Status::Done),
        ("SUCCEEDED", Status::Done),
    ];
    for (job_status, expected) in sequence {
        let outcome = apply_batch_event(services, &event(&id, "job-1", job_status)).await.expect("applied");
        assert_eq!(outcome, EventOutcome::Applied(id.clone()));
        assert_eq!(status_of(&deployment, &id).await.status, expected, "after {job_status}");
    }
    let run = status_of(&deployment, &id).await;
    assert_eq!(run.error, None);
    assert_eq!(run.percent_complete, Some(100.0));
    assert_eq!(run.output_files.len(), 1, "outputs listed when the job ended");
    assert_eq!(run.output_files[0].size, 100);
}

#[tokio::test]
async fn failure_records_reason() {
    let (deployment, _) = deployment().await;
    let id = stored_run(&deployment, Status::Active).await;
    apply_batch_event(&deployment.services, &event(&id, "job-1", "FAILED")).await.expect("applied");
    let run = status_of(&deployment, &id).await;
    assert_eq!(run.status, Status::Error);
    let error = run.error.expect("error set");
    assert_eq!(error.status, "job_failed");
    assert!(error.message.contains("Essential container in task exited"), "{}", error.message);
    assert!(run.time_stopped.is_some());
}

#[tokio::test]
async fn stopped_run_stays_stopped() {
    let (deployment, _) = deployment().await;
    let id = stored_run(&deployment, Status::Active).await;
    let mut run = status_of(&deployment, &id).await;
    run.finish(Status::Stopped, None);
    deployment.store.update(&run).await.expect("stop");
    for job_status in ["FAILED", "SUCCEEDED", "RUNNING"] {
        apply_batch_event(&deployment.services, &event(&id, "job-1", job_status)).await.expect("applied");
        let run = status_of(&deployment, &id).await;
        assert_eq!(run.status, Status::Stopped, "after {job_status}");
        assert_eq!(run.error, None);
    }
}

#[tokio::test]
async fn foreign_events_ignored() {
    let (deployment, _) = deployment().await;
    let services = &deployment.services;
    let id = stored_run(&deployment, Status::Active).await;
    let cases = [
        event(&id, "job-2", "FAILED"),
        event(&id, "job-1#0", "FAILED"),
        event(&Id::new_random(), "job-1", "FAILED"),
        BatchJobDetail { parameters: HashMap::new(), ..event(&id, "job-1", "FAILED") },
        event(&id, "job-1", "DELETED"),
    ];
    for detail in cases {
        let outcome = apply_batch_event(services, &detail).await.expect("no error");
        assert!(matches!(outcome, EventOutcome::Ignored(_)), "{detail:?}");
    }
    assert_eq!(status_of(&deployment, &id).await.status, Status::Active);
}
