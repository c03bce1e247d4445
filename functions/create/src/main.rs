//! Lambda function for `POST /v1/wrf`: creates a run.

use cloudrun_lambda::{endpoints, startup, telemetry};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deployment = startup::deployment().await?;
    let services = &deployment.services;
    run(service_fn(|request| endpoints::create(services, request))).await
}
