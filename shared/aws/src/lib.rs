//! cloudrun on AWS: DynamoDB run and token store, S3 file store, Batch scheduler, SQS transfer
//! queue, the Batch job state-change events, and the settings that configure them.

pub mod batch;
pub mod clients;
pub mod deployment;
pub mod dynamo;
pub mod emulator;
pub mod events;
pub mod fetch;
pub mod s3;
pub mod settings;
