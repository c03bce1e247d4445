//! A run from creation to deleted outputs through the endpoint handlers, Batch events feeding
//! its progress; stopping a run; and concurrent starts.

use aws_sdk_s3::primitives::ByteStream;
use cloudrun_aws::s3::S3FileStore;
use cloudrun_core::ports::Area;
use cloudrun_core::run::Id;
use serde_json::{json, Value};

use crate::events::{batch_event, object_created, run_transfers};
use crate::helpers::{file_part, namelist, Payload, Route, Stack, MIB};
use crate::remote::FileServer;

fn pattern(size: u64) -> Vec<u8> {
    (0..size).map(|i| (i % 253) as u8).collect()
}

fn input_state(run: &Value, name: &str) -> (String, u64) {
    let files = run["input_files"].as_array().expect("input_files");
    let file = files.iter().find(|f| f["filename"] == name).unwrap_or_else(|| panic!("{name} missing: {files:?}"));
    (file["state"].as_str().unwrap_or_default().to_string(), file["size"].as_u64().unwrap_or(0))
}

async fn put(url: &str, headers: &Value, body: Vec<u8>) -> String {
    let mut request = reqwest::Client::new().put(url).body(body);
    for (name, value) in headers.as_object().expect("headers") {
        request = request.header(name, value.as_str().expect("text"));
    }
    let response = request.send().await.expect("PUT to the presigned URL");
    assert!(response.status().is_success(), "PUT answered {}", response.status());
    response.headers()["etag"].to_str().expect("ASCII").to_string()
}

async fn get(stack: &Stack, id: &str) -> Value {
    let reply = stack.call(Route::Get, id, Payload::Empty).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.body
}

#[tokio::test]
async fn run_lifecycle_end_to_end() {
    let stack = Stack::new().await;
    let server = FileServer::start(crate::helpers::sounding()).await;

    // Create, then the namelist as a multipart upload.
    let created = stack.call(Route::Create, "", Payload::Multipart(vec![("version".into(), None, b"4.7.1".to_vec())])).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["status"], "created");
    let id = created.body["id"].as_str().expect("id").to_string();
    let listed = stack.call(Route::List, "", Payload::Empty).await;
    assert_eq!(listed.body.as_array().map(|runs| runs.len()), Some(1));
    assert_eq!(listed.body[0]["id"], json!(id));

    let uploaded = stack.call(Route::Upload, &id, file_part("namelist.input", namelist())).await;
    assert_eq!(uploaded.status, 200, "{:?}", uploaded.body);
    let run = get(&stack, &id).await;
    assert_eq!(run["status"], "ready");
    assert_eq!(run["required_input_files"], json!(["input_sounding", "namelist.input"]));
    let early = stack.call(Route::Start, &id, Payload::Form("cores=1".into())).await;
    assert_eq!(early.status, 409, "start before input_sounding: {:?}", early.body);

    // The sounding through upload_url and the fetch worker.
    let form = format!("url={}/input_sounding", server.base);
    assert_eq!(stack.call(Route::UploadUrl, &id, Payload::Form(form)).await.status, 200);
    assert_eq!(run_transfers(&stack).await, 1);
    assert_eq!(input_state(&get(&stack, &id).await, "input_sounding").0, "complete");

    // A presigned single PUT, registered by the S3 event; the client's completion call still succeeds.
    let small = pattern(3 * MIB);
    let request = json!({"filename": "wrfbdy_d01", "size": small.len()});
    let presigned = stack.call(Route::Upload, &id, Payload::Json(request)).await;
    assert_eq!(presigned.status, 200, "{:?}", presigned.body);
    let fileid = presigned.body["fileid"].as_str().expect("fileid").to_string();
    put(presigned.body["upload_url"].as_str().expect("single URL"), &presigned.body["headers"], small.clone()).await;
    let staging = S3FileStore::staging_key(&id.parse().expect("id"), &fileid.parse().expect("fileid"));
    object_created(&stack, &staging, small.len() as u64).await;
    assert_eq!(input_state(&get(&stack, &id).await, "wrfbdy_d01"), ("complete".into(), small.len() as u64));
    let completed = stack.call(Route::Complete(fileid.clone()), &id, Payload::Empty).await;
    assert_eq!(completed.status, 200, "{:?}", completed.body);
    assert_eq!(completed.body["fileid"], json!(fileid));

    // A presigned multipart upload with its completion call.
    let large = pattern(11 * MIB + 5);
    let request = json!({"filename": "met_em.d01", "size": large.len()});
    let presigned = stack.call(Route::Upload, &id, Payload::Json(request)).await;
    assert_eq!(presigned.status, 200, "{:?}", presigned.body);
    assert_eq!(presigned.body["upload_url"], Value::Null);
    let mut parts = Vec::new();
    let mut offset = 0usize;
    for part in presigned.body["parts"].as_array().expect("parts") {
        let size = part["size"].as_u64().expect("size") as usize;
        let etag = put(part["url"].as_str().expect("url"), &presigned.body["headers"], large[offset..offset + size].to_vec()).await;
        offset += size;
        parts.push(json!({"part_number": part["part_number"], "etag": etag}));
    }
    assert_eq!(offset, large.len());
    let fileid = presigned.body["fileid"].as_str().expect("fileid").to_string();
    let completed = stack.call(Route::Complete(fileid), &id, Payload::Json(json!({"parts": parts}))).await;
    assert_eq!(completed.status, 200, "{:?}", completed.body);
    assert_eq!(input_state(&get(&stack, &id).await, "met_em.d01"), ("complete".into(), large.len() as u64));

    // Start, then the job's events as Batch would send them.
    let cores = get(&stack, &id).await["compute_options"][0]["cores"].as_i64().expect("an option");
    let started = stack.call(Route::Start, &id, Payload::Form(format!("cores={cores}"))).await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    assert_eq!(started.body["status"], "starting");
    let job_id = stack.stored(&id).await.job_id.expect("job id stored");
    let jobs = stack.clients.batch.describe_jobs().jobs(&job_id).send().await.expect("describe");
    assert_eq!(jobs.jobs().len(), 1, "the job was submitted to Batch");

    batch_event(&stack, &id, &job_id, "RUNNABLE").await;
    assert_eq!(get(&stack, &id).await["status"], "starting");
    batch_event(&stack, &id, &job_id, "RUNNING").await;
    assert_eq!(get(&stack, &id).await["status"], "active");
    let run_id: Id = id.parse().expect("id");
    let bucket = &stack.deployment.settings.bucket;
    for (name, bytes) in [("wrfout_d01_0001-01-01_00:00:00", pattern(4096)), ("rsl.out.0000", b"SUCCESS COMPLETE WRF\n".to_vec())] {
        let key = S3FileStore::key(&run_id, Area::Outputs, name);
        stack.clients.s3.put_object().bucket(bucket).key(key).body(ByteStream::from(bytes)).send().await.expect("output");
    }
    batch_event(&stack, &id, &job_id, "STARTING").await;
    batch_event(&stack, &id, &job_id, "SUCCEEDED").await;
    batch_event(&stack, &id, &job_id, "RUNNING").await;
    let run = get(&stack, &id).await;
    assert_eq!(run["status"], "done");
    assert_eq!(run["percent_complete"], json!(100.0));
    assert_eq!(run["output_files"].as_array().map(Vec::len), Some(2));
    assert_eq!(run["output_size"], json!(4096 + 21));

    // Download through the presigned redirect.
    let reply = stack.call(Route::Output("rsl.out.0000".into()), &id, Payload::Empty).await;
    assert_eq!(reply.status, 307);
    let location = reply.location.expect("Location header");
    let body = reqwest::get(&location).await.expect("GET").bytes().await.expect("body");
    assert_eq!(&body[..], b"SUCCESS COMPLETE WRF\n");
    assert_eq!(stack.call(Route::Output("wrfout_d02".into()), &id, Payload::Empty).await.status, 404);

    // A finished run cannot be stopped; deleting removes the outputs and keeps the run.
    assert_eq!(stack.call(Route::Stop, &id, Payload::Empty).await.status, 409);
    let deleted = stack.call(Route::Delete, &id, Payload::Empty).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    assert_eq!(deleted.body["output_files"], json!([]));
    assert_eq!(deleted.body["status"], "done");
    let prefix = S3FileStore::area_prefix(&run_id, Area::Outputs);
    let left = stack.clients.s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.expect("list");
    assert_eq!(left.contents().len(), 0, "outputs removed from S3");
    assert_eq!(stack.call(Route::Output("rsl.out.0000".into()), &id, Payload::Empty).await.status, 404);
    assert_eq!(input_state(&get(&stack, &id).await, "met_em.d01").0, "complete", "inputs stay");
}

#[tokio::test]
async fn stopped_run_stays_stopped() {
    let stack = Stack::new().await;
    let id = stack.ready_run().await;
    let cores = stack.stored(&id).await.compute_options[0].cores;
    let started = stack.call(Route::Start, &id, Payload::Form(format!("cores={cores}"))).await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    let job_id = stack.stored(&id).await.job_id.expect("job id");
    batch_event(&stack, &id, &job_id, "RUNNING").await;

    let stopped = stack.call(Route::Stop, &id, Payload::Empty).await;
    assert_eq!(stopped.status, 200, "{:?}", stopped.body);
    assert_eq!(stopped.body["status"], "stopped");
    for status in ["FAILED", "RUNNING", "SUCCEEDED"] {
        batch_event(&stack, &id, &job_id, status).await;
        let run = stack.call(Route::Get, &id, Payload::Empty).await.body;
        assert_eq!(run["status"], "stopped", "after {status}");
        assert_eq!(run["error"], Value::Null);
    }
    assert_eq!(stack.call(Route::Stop, &id, Payload::Empty).await.status, 409, "stopping twice");
    assert_eq!(stack.call(Route::Delete, &id, Payload::Empty).await.status, 200);
}

#[tokio::test]
async fn failed_job_reports_reason() {
    let stack = Stack::new().await;
    let id = stack.ready_run().await;
    let cores = stack.stored(&id).await.compute_options[0].cores;
    assert_eq!(stack.call(Route::Start, &id, Payload::Form(format!("cores={cores}"))).await.status, 200);
    let job_id = stack.stored(&id).await.job_id.expect("job id");
    batch_event(&stack, &id, &job_id, "FAILED").await;
    let run = stack.call(Route::Get, &id, Payload::Empty).await.body;
    assert_eq!(run["status"], "error");
    assert_eq!(run["error"]["status"], "job_failed");
    assert!(run["error"]["message"].as_str().unwrap_or_default().contains("Essential container in task exited"));
}

#[tokio::test]
async fn concurrent_starts_submit_one_job() {
    let stack = Stack::new().await;
    let id = stack.ready_run().await;
    let cores = stack.stored(&id).await.compute_options[0].cores;
    let calls = (0..20).map(|_| stack.call(Route::Start, &id, Payload::Form(format!("cores={cores}"))));
    let replies = futures::future::join_all(calls).await;

    let accepted = replies.iter().filter(|r| r.status == 200).count();
    let conflicts = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!(accepted, 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(conflicts, 19);
    let queue = &stack.deployment.settings.job_queues["4.7.1"];
    let jobs = stack.clients.batch.list_jobs().job_queue(queue).send().await.expect("list jobs");
    assert_eq!(jobs.job_summary_list().len(), 1, "exactly one Batch job");
    assert_eq!(jobs.job_summary_list()[0].job_id(), stack.stored(&id).await.job_id.as_deref());
}
