//! Integration tests of the AWS adapters against a moto server; `scripts/moto.sh` starts one.

mod batch;
mod dynamo;
mod events;
mod fetch;
mod helpers;
mod s3;
mod s3_presigned;
