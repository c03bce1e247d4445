//! `upload_url` on AWS: the `upload_url` function queues a transfer on SQS, and the
//! `fetch_worker` function, triggered by that queue, downloads the file into S3.

mod worker;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use cloudrun_core::ports::{SchedulerError, UrlFetcher};
use cloudrun_core::run::Id;
use serde::{Deserialize, Serialize};

pub use worker::{run_transfer, Downloader};

/// The SQS message body of one transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRequest {
    pub run_id: Id,
    pub fileid: Id,
    pub filename: String,
    /// The URL as the user sent it; it may hold a signature in its query, so it is never logged.
    pub url: String,
}

/// Queues transfers on SQS.
#[derive(Clone, Debug)]
pub struct SqsFetcher {
    client: Client,
    queue_url: String,
}

impl SqsFetcher {
    pub fn new(client: Client, queue_url: &str) -> SqsFetcher {
        SqsFetcher { client, queue_url: queue_url.to_string() }
    }
}

#[async_trait]
impl UrlFetcher for SqsFetcher {
    async fn enqueue(&self, run: &Id, fileid: &Id, name: &str, url: &str) -> Result<(), SchedulerError> {
        let request =
            TransferRequest { run_id: run.clone(), fileid: fileid.clone(), filename: name.to_string(), url: url.to_string() };
        let body = serde_json::to_string(&request).map_err(|e| SchedulerError(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| SchedulerError(format!("SendMessage failed: {}", aws_sdk_sqs::error::DisplayErrorContext(e))))?;
        Ok(())
    }
}
