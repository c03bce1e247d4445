//! Lambda function for `POST /v1/wrf/{id}/stop`: stops a run's Batch job.

use cloudrun_lambda::{endpoints, startup, telemetry};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deployment = startup::deployment().await?;
    let services = &deployment.services;
    run(service_fn(|request| endpoints::stop(services, request))).await
}
