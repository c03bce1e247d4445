//! The Lambda edge of cloudrun: turns API Gateway requests, the authorizer call and the
//! EventBridge, S3 and SQS events into calls of the core handlers over the AWS adapters.
//! Each function binary under `functions/` sets up tracing, loads the deployment once per cold
//! start, and hands one of these handlers to the Lambda runtime.

pub use cloudrun_aws;

pub mod authorizer;
pub mod batch_events;
pub mod endpoints;
pub mod fetch_worker;
pub mod http;
pub mod s3_events;
pub mod startup;
pub mod telemetry;
