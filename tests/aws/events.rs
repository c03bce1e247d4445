//! The event targets fed with the sample events of `infra/events/`, filled in for a test's run.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use cloudrun_aws::events::BatchJobDetail;
use cloudrun_aws::fetch::Downloader;
use cloudrun_lambda::{batch_events, fetch_worker, s3_events};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use crate::helpers::{lambda_context, Stack};

const BATCH_EVENT: &str = include_str!("../../infra/events/batch-job-state-change.json");
const S3_EVENT: &str = include_str!("../../infra/events/s3-object-created.json");
const SQS_EVENT: &str = include_str!("../../infra/events/sqs-transfer.json");

/// Sends a "Batch Job State Change" event for `run` through the EventBridge target.
pub async fn batch_event(stack: &Stack, run: &str, job_id: &str, status: &str) {
    let mut event: Value = serde_json::from_str(BATCH_EVENT).expect("fixture");
    let detail = &mut event["detail"];
    detail["jobId"] = json!(job_id);
    detail["jobName"] = json!(format!("cloudrun-{run}"));
    detail["status"] = json!(status);
    detail["parameters"]["run_id"] = json!(run);
    detail["tags"]["cloudrun-run-id"] = json!(run);
    if status != "FAILED" {
        detail.as_object_mut().expect("object").remove("statusReason");
    }
    let event: EventBridgeEvent<BatchJobDetail> = serde_json::from_value(event).expect("an EventBridge event");
    let result = batch_events::handle(&stack.deployment.services, LambdaEvent::new(event, lambda_context(60))).await;
    result.unwrap_or_else(|e| panic!("{status} event failed: {e}"));
}

/// Sends an S3 object-created event for `key` through the S3 target.
pub async fn object_created(stack: &Stack, key: &str, size: u64) {
    let mut event: Value = serde_json::from_str(S3_EVENT).expect("fixture");
    let record = &mut event["Records"][0]["s3"];
    record["bucket"]["name"] = json!(stack.deployment.settings.bucket);
    record["object"]["key"] = json!(key);
    record["object"]["size"] = json!(size);
    let event: S3Event = serde_json::from_value(event).expect("an S3 event");
    s3_events::handle(&stack.deployment.services, LambdaEvent::new(event, lambda_context(60))).await.expect("S3 event");
}

/// Receives the queued transfers from SQS and runs them through the fetch worker; returns how many there were.
pub async fn run_transfers(stack: &Stack) -> usize {
    let queue = &stack.deployment.settings.fetch_queue_url;
    let received = stack.clients.sqs.receive_message().queue_url(queue).max_number_of_messages(10).send().await;
    let messages = received.expect("receive").messages().to_vec();
    let downloader = Downloader::new(&stack.deployment.settings.config.upload_url).expect("valid allow-list");
    for message in &messages {
        let mut event: Value = serde_json::from_str(SQS_EVENT).expect("fixture");
        event["Records"][0]["body"] = json!(message.body().expect("body"));
        event["Records"][0]["messageId"] = json!(message.message_id().expect("message id"));
        let event: SqsEvent = serde_json::from_value(event).expect("an SQS event");
        let context = lambda_context(120);
        fetch_worker::handle(&stack.deployment.services, &downloader, LambdaEvent::new(event, context)).await.expect("transfer");
    }
    messages.len()
}

#[test]
fn sample_events_parse() {
    for name in ["apigw-get-run", "apigw-list-runs", "apigw-create-run", "apigw-start-run", "apigw-request-upload"] {
        let text = crate::helpers::repo_file(&format!("infra/events/{name}.json"));
        let request = lambda_http::request::from_str(std::str::from_utf8(&text).expect("UTF-8"));
        assert!(request.is_ok(), "{name}: {:?}", request.err());
    }
    let batch: EventBridgeEvent<BatchJobDetail> = serde_json::from_str(BATCH_EVENT).expect("batch event");
    assert_eq!(batch.detail.status, "FAILED");
    let s3: S3Event = serde_json::from_str(S3_EVENT).expect("S3 event");
    assert_eq!(s3.records.len(), 1);
    let sqs: SqsEvent = serde_json::from_str(SQS_EVENT).expect("SQS event");
    let body = sqs.records[0].body.as_deref().expect("body");
    assert!(serde_json::from_str::<cloudrun_aws::fetch::TransferRequest>(body).is_ok());
    let authorizer: Value = serde_json::from_slice(&crate::helpers::repo_file("infra/events/authorizer-token.json")).expect("JSON");
    assert_eq!(authorizer["type"], "TOKEN");
}
