//! Lambda function, SQS target: downloads `upload_url` transfers into S3.

use cloudrun_lambda::cloudrun_aws::fetch::Downloader;
use cloudrun_lambda::{fetch_worker, startup, telemetry};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let deployment = startup::deployment().await?;
    let downloader = Downloader::new(&deployment.settings.config.upload_url)?;
    let services = &deployment.services;
    run(service_fn(|event| fetch_worker::handle(services, &downloader, event))).await
}
