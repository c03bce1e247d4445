//! End-to-end tests of the Lambda functions' handlers against a moto server: real API Gateway,
//! EventBridge, S3 and SQS event JSON in, the AWS adapters and the core handlers behind them.
//! `scripts/moto.sh` starts the server; each test gets its own table, bucket and queues.

mod events;
mod helpers;
mod lifecycle;
mod outage;
mod remote;
mod rules;
