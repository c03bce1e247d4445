//! Lambda function, EventBridge target: applies Batch job state changes to runs.

use cloudrun_lambda::{batch_events, startup, telemetry};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deployment = startup::deployment().await?;
    let services = &deployment.services;
    run(service_fn(|event| batch_events::handle(services, event))).await
}
