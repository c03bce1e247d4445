//! Lambda function, S3 object-created target: registers presigned single-PUT uploads.

use cloudrun_lambda::{s3_events, startup, telemetry};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deployment = startup::deployment().await?;
    let services = &deployment.services;
    run(service_fn(|event| s3_events::handle(services, event))).await
}
