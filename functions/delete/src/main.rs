//! Lambda function for `DELETE /v1/wrf/{id}`: deletes a run's outputs.

use cloudrun_lambda::{endpoints, startup, telemetry};
use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deployment = startup::deployment().await?;
    let services = &deployment.services;
    run(service_fn(|request| endpoints::delete(services, request))).await
}
