//! The SQS target of `upload_url` transfers: downloads each queued URL into S3.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::SqsEvent;
use cloudrun_aws::fetch::{run_transfer, Downloader, TransferRequest};
use cloudrun_core::api::Services;
use lambda_runtime::LambdaEvent;
use tracing::error;

/// Time kept back from the Lambda deadline to record a transfer's outcome.
const MARGIN: Duration = Duration::from_secs(20);

/// Runs the queued transfers one after another, each capped by the time the invocation has left.
pub async fn handle(services: &Services, downloader: &Downloader, event: LambdaEvent<SqsEvent>) -> Result<(), lambda_runtime::Error> {
    let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
    for message in &event.payload.records {
        let Some(body) = message.body.as_deref() else {
            continue;
        };
        let request: TransferRequest = match serde_json::from_str(body) {
            Ok(request) => request,
            Err(error) => {
                error!(message_id = ?message.message_id, %error, "invalid transfer message dropped");
                continue;
            }
        };
        let time_left = deadline.duration_since(SystemTime::now()).unwrap_or_default().saturating_sub(MARGIN);
        if let Err(error) = run_transfer(services, downloader, &request, time_left).await {
            error!(run_id = %request.run_id, fileid = %request.fileid, %error, "recording a transfer failed");
            return Err(error.to_string().into());
        }
    }
    Ok(())
}
