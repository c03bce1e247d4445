//! The Batch scheduler.

use cloudrun_aws::batch::{BatchScheduler, RUN_ID_TAG};
use cloudrun_core::ports::Scheduler;
use cloudrun_core::run::Run;

use crate::helpers::deployment;

fn started_run(cores: i64, version: &str) -> Run {
    let mut run = Run::new("alice", version);
    run.cores = Some(cores);
    run
}

#[tokio::test]
async fn submit_sets_nodes_parameters_and_tags() {
    let (deployment, clients) = deployment().await;
    let scheduler = BatchScheduler::new(clients.batch.clone(), &deployment.settings);
    assert_eq!(scheduler.nodes_for(36), 1);
    assert_eq!(scheduler.nodes_for(37), 2);
    assert_eq!(scheduler.nodes_for(144), 4);

    let run = started_run(72, "4.7.1");
    let job_id = scheduler.submit(&run).await.expect("submit");
    let described = clients.batch.describe_jobs().jobs(&job_id).send().await.expect("describe");
    let job = described.jobs().first().expect("the job exists");
    assert_eq!(job.job_name(), Some(format!("cloudrun-{}", run.id).as_str()));
    let parameters = job.parameters().expect("parameters");
    assert_eq!(parameters.get("run_id").map(String::as_str), Some(run.id.as_str()));
    assert_eq!(parameters.get("cores").map(String::as_str), Some("72"));
    assert_eq!(job.tags().and_then(|t| t.get(RUN_ID_TAG)).map(String::as_str), Some(run.id.as_str()));
    let queue = &deployment.settings.job_queues["4.7.1"];
    assert!(job.job_queue().unwrap_or_default().ends_with(queue.as_str()), "{:?}", job.job_queue());
}

#[tokio::test]
async fn terminate_ends_the_job() {
    let (deployment, clients) = deployment().await;
    let scheduler = BatchScheduler::new(clients.batch.clone(), &deployment.settings);
    let mut run = started_run(36, "3.9");
    run.job_id = Some(scheduler.submit(&run).await.expect("submit"));
    scheduler.terminate(&run).await.expect("terminate");
    run.job_id = None;
    scheduler.terminate(&run).await.expect("a run without a job has nothing to terminate");
}

#[tokio::test]
async fn unknown_version_is_an_error() {
    let (deployment, clients) = deployment().await;
    let scheduler = BatchScheduler::new(clients.batch.clone(), &deployment.settings);
    let error = scheduler.submit(&started_run(36, "2.2")).await.expect_err("no job definition");
    assert!(error.to_string().contains("WRF version 2.2"), "{error}");
}
