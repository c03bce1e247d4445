//! Streaming `put`: one PutObject for small bodies, a multipart upload for large ones, holding at
//! most one part in memory. The object appears only when the whole body is stored.

use aws_sdk_s3::primitives::ByteStream as S3Body;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use cloudrun_core::ports::{ByteStream, FileError};
use futures::StreamExt;
use tracing::warn;

use super::{backend, S3FileStore, MAX_PARTS, MAX_SINGLE_BYTES};

/// Part size for a body of at most `max_bytes`: large enough that `MAX_PARTS` parts hold it.
pub(super) fn part_size(minimum: u64, max_bytes: u64) -> u64 {
    max_bytes.div_ceil(MAX_PARTS).max(minimum).min(MAX_SINGLE_BYTES)
}

/// The body being read, with the bytes not yet sent.
struct Reader {
    body: ByteStream,
    buffer: BytesMut,
    /// Part size in bytes.
    part: u64,
    total: u64,
    max_bytes: u64,
}

impl Reader {
    /// Reads until the buffer contains a whole part or the body ends, and returns whether it ended.
    async fn fill(&mut self) -> Result<bool, FileError> {
        while (self.buffer.len() as u64) < self.part {
            let Some(chunk) = self.body.next().await else {
                return Ok(true);
            };
            let chunk = chunk.map_err(|e| FileError::Incomplete(e.to_string()))?;
            self.total += chunk.len() as u64;
            if self.total > self.max_bytes {
                return Err(FileError::TooLarge { limit: self.max_bytes });
            }
            self.buffer.extend_from_slice(&chunk);
        }
        Ok(false)
    }
}

pub(super) async fn put_stream(store: &S3FileStore, key: &str, body: ByteStream, max_bytes: u64) -> Result<u64, FileError> {
    let part = part_size(store.options.stream_part_bytes, max_bytes);
    let mut reader = Reader { body, buffer: BytesMut::new(), part, total: 0, max_bytes };
    if reader.fill().await? {
        let bytes = reader.buffer.freeze();
        let request = store.client.put_object().bucket(&store.bucket).key(key).body(S3Body::from(bytes));
        request.send().await.map_err(backend)?;
        return Ok(reader.total);
    }

    let created = store.client.create_multipart_upload().bucket(&store.bucket).key(key).send().await.map_err(backend)?;
    let upload_id = created.upload_id().ok_or_else(|| FileError::Backend("S3 returned no upload id".into()))?.to_string();
    let result = upload_parts(store, key, &upload_id, reader).await;
    if result.is_err() {
        let abort = store.client.abort_multipart_upload().bucket(&store.bucket).key(key).upload_id(&upload_id);
        if let Err(error) = abort.send().await {
            // The bucket's lifecycle rule removes the parts of abandoned uploads later.
            warn!(key, error = %aws_sdk_s3::error::DisplayErrorContext(error), "aborting a multipart upload failed");
        }
    }
    result
}

async fn upload_parts(store: &S3FileStore, key: &str, upload_id: &str, mut reader: Reader) -> Result<u64, FileError> {
    let mut completed = Vec::new();
    loop {
        let ended = reader.fill().await?;
        while reader.buffer.len() as u64 >= reader.part || (ended && !reader.buffer.is_empty()) {
            let take = reader.buffer.len().min(reader.part as usize);
            let bytes = reader.buffer.split_to(take).freeze();
            completed.push(send_part(store, key, upload_id, completed.len() as i32 + 1, bytes).await?);
        }
        if ended {
            break;
        }
    }
    let parts = CompletedMultipartUpload::builder().set_parts(Some(completed)).build();
    let request = store.client.complete_multipart_upload().bucket(&store.bucket).key(key).upload_id(upload_id);
    request.multipart_upload(parts).send().await.map_err(backend)?;
    Ok(reader.total)
}

async fn send_part(store: &S3FileStore, key: &str, upload_id: &str, number: i32, bytes: Bytes) -> Result<CompletedPart, FileError> {
    let output = store
        .client
        .upload_part()
        .bucket(&store.bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(S3Body::from(bytes))
        .send()
        .await
        .map_err(backend)?;
    Ok(CompletedPart::builder().part_number(number).set_e_tag(output.e_tag).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_grows_with_the_limit() {
        let minimum = 8 * 1024 * 1024;
        assert_eq!(part_size(minimum, 1024), minimum);
        let terabyte = 1u64 << 40;
        let part = part_size(minimum, terabyte);
        assert!(part * MAX_PARTS >= terabyte, "{part}");
        assert_eq!(part_size(minimum, u64::MAX), MAX_SINGLE_BYTES);
    }
}
