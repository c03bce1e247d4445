//! The S3 "object created" target: completes presigned single-PUT uploads as soon as their
//! object lands in `staging/`, so a client needs no completion call for them. Multipart
//! uploads are completed by the client's completion call, which is what creates their object.

use aws_lambda_events::s3::S3Event;
use cloudrun_aws::s3::S3FileStore;
use cloudrun_core::api::{uploads, Caller, Services};
use cloudrun_core::error::ApiError;
use lambda_runtime::LambdaEvent;
use tracing::{error, info, warn};

/// Handles every record; a store failure fails the invocation, so Lambda retries the event.
pub async fn handle(services: &Services, event: LambdaEvent<S3Event>) -> Result<(), lambda_runtime::Error> {
    let mut failed = None;
    for record in &event.payload.records {
        let Some(key) = record.s3.object.key.as_deref() else {
            continue;
        };
        if let Err(error) = register(services, &decode_key(key)).await {
            error!(key, %error, "registering a presigned upload failed");
            failed = Some(error);
        }
    }
    match failed {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// Decodes a key from an S3 event notification, where keys are URL-encoded with `+` for a space.
fn decode_key(key: &str) -> String {
    let query = format!("k={key}");
    let decoded = url::form_urlencoded::parse(query.as_bytes()).next().map(|(_, value)| value.into_owned());
    decoded.unwrap_or_else(|| key.to_string())
}

/// Completes the upload a staging key belongs to, acting as the run's owner.
async fn register(services: &Services, key: &str) -> Result<(), String> {
    let Some((run_id, fileid)) = S3FileStore::parse_staging_key(key) else {
        return Ok(());
    };
    let run = services.runs.get(&run_id).await.map_err(|e| e.to_string())?;
    let Some(run) = run else {
        warn!(run_id = %run_id, fileid = %fileid, "object created for a run that does not exist");
        return Ok(());
    };
    let Some(pending) = run.pending_uploads.iter().find(|p| p.fileid == fileid) else {
        info!(run_id = %run_id, fileid = %fileid, "upload already completed");
        return Ok(());
    };
    if pending.size > services.config.uploads.multipart_threshold_bytes {
        return Ok(());
    }
    let owner = Caller { user: run.owner.clone() };
    match uploads::complete_upload(services, &owner, run_id.as_str(), fileid.as_str(), &[]).await {
        Ok(_) => Ok(()),
        Err(ApiError::Internal(detail)) => Err(detail),
        // The upload stays pending (wrong size, or the run has started since), so the client's own completion call reports why.
        Err(rejection) => {
            warn!(run_id = %run_id, fileid = %fileid, reason = %rejection, "presigned upload not registered");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_decoded() {
        assert_eq!(decode_key("staging/a/b"), "staging/a/b");
        assert_eq!(decode_key("runs/a/inputs/met+em%3A1"), "runs/a/inputs/met em:1");
    }
}
