//! Lambda function for `GET /v1/wrf/{id}/output/{filename}`: redirects to an output file.

use cloudrun_lambda::{endpoints, startup, telemetry};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deployment = startup::deployment().await?;
    let services = &deployment.services;
    run(service_fn(|request| endpoints::output(services, request))).await
}
