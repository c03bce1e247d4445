//! The EventBridge target for "Batch Job State Change" events.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use cloudrun_aws::events::{apply_batch_event, BatchJobDetail, EventOutcome};
use cloudrun_core::api::Services;
use cloudrun_core::error::ApiError;
use lambda_runtime::LambdaEvent;
use tracing::{error, info};

/// Applies one event; a store failure fails the invocation, so Lambda retries the event.
pub async fn handle(services: &Services, event: LambdaEvent<EventBridgeEvent<BatchJobDetail>>) -> Result<(), lambda_runtime::Error> {
    let detail = &event.payload.detail;
    match apply_batch_event(services, detail).await {
        Ok(EventOutcome::Applied(_)) => Ok(()),
        Ok(EventOutcome::Ignored(reason)) => {
            info!(job_id = %detail.job_id, job_status = %detail.status, reason, "batch job event ignored");
            Ok(())
        }
        Err(ApiError::Internal(detail_text)) => {
            error!(job_id = %detail.job_id, job_status = %detail.status, error = %detail_text, "applying a batch job event failed");
            Err(detail_text.into())
        }
        Err(other) => {
            info!(job_id = %detail.job_id, job_status = %detail.status, reason = %other, "batch job event not applied");
            Ok(())
        }
    }
}
