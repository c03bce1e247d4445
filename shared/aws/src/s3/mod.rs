//! S3 adapter of the file store.
//!
//! Keys: `runs/<id>/inputs/<name>` and `runs/<id>/outputs/<name>` for stored files, and
//! `staging/<id>/<fileid>` for presigned uploads until their completion copies them to
//! `inputs/`. Staging has its own top-level prefix so that the bucket's object-created
//! notification and its expiry rule can select it. Downloads are presigned GET URLs, so file
//! bytes never pass through a Lambda.

mod objects;
mod presign;
mod stream_put;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::Client;
use cloudrun_core::config::UploadConfig;
use cloudrun_core::ports::{Area, ByteStream, CompletedPart, Download, FileError, FileStore, PresignedUpload};
use cloudrun_core::run::{Id, OutputFile};

/// S3 accepts at most this many parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;
/// S3's smallest part, except for the last one.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// S3's largest single PUT, part or CopyObject.
pub const MAX_SINGLE_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Sizes and lifetimes of the store's transfers.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Options {
    /// Lifetime of presigned URLs, in seconds.
    pub url_seconds: u64,
    /// Presigned uploads above this size are multipart uploads.
    pub multipart_threshold: u64,
    /// Part size of presigned multipart uploads and of copies above `max_single_copy_bytes`.
    pub part_bytes: u64,
    /// Smallest part of a streamed `put`; parts grow so that `max_bytes` fits into `MAX_PARTS`.
    pub stream_part_bytes: u64,
    /// Largest object copied with one CopyObject call.
    pub max_single_copy_bytes: u64,
}

impl S3Options {
    pub fn from_config(uploads: &UploadConfig) -> S3Options {
        S3Options {
            url_seconds: uploads.presigned_url_seconds,
            multipart_threshold: uploads.multipart_threshold_bytes.min(MAX_SINGLE_BYTES),
            part_bytes: uploads.part_bytes.clamp(MIN_PART_BYTES, MAX_SINGLE_BYTES),
            stream_part_bytes: 8 * 1024 * 1024,
            max_single_copy_bytes: MAX_SINGLE_BYTES,
        }
    }
}

/// Files of every run in one bucket.
#[derive(Clone, Debug)]
pub struct S3FileStore {
    client: Client,
    bucket: String,
    options: S3Options,
}

pub(crate) fn backend(error: impl std::error::Error) -> FileError {
    FileError::Backend(aws_sdk_s3::error::DisplayErrorContext(error).to_string())
}

impl S3FileStore {
    pub fn new(client: Client, bucket: &str, options: S3Options) -> S3FileStore {
        S3FileStore { client, bucket: bucket.to_string(), options }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Returns the object key of a stored file.
    pub fn key(run: &Id, area: Area, name: &str) -> String {
        format!("{}{name}", Self::area_prefix(run, area))
    }

    pub fn area_prefix(run: &Id, area: Area) -> String {
        format!("runs/{run}/{}/", area.as_str())
    }

    /// Returns the object key a presigned upload writes to.
    pub fn staging_key(run: &Id, fileid: &Id) -> String {
        format!("staging/{run}/{fileid}")
    }

    /// Parses a staging key back into its run and file ids.
    pub fn parse_staging_key(key: &str) -> Option<(Id, Id)> {
        let (run, fileid) = key.strip_prefix("staging/")?.split_once('/')?;
        Some((run.parse().ok()?, fileid.parse().ok()?))
    }

    fn presigning(&self) -> Result<PresigningConfig, FileError> {
        PresigningConfig::expires_in(Duration::from_secs(self.options.url_seconds))
            .map_err(|e| FileError::Backend(format!("invalid presigned URL lifetime: {e}")))
    }
}

#[async_trait]
impl FileStore for S3FileStore {
    async fn put(&self, run: &Id, area: Area, name: &str, body: ByteStream, max_bytes: u64) -> Result<u64, FileError> {
        stream_put::put_stream(self, &Self::key(run, area, name), body, max_bytes).await
    }

    async fn read(&self, run: &Id, area: Area, name: &str, max_bytes: u64) -> Result<Vec<u8>, FileError> {
        objects::read(self, &Self::key(run, area, name), max_bytes).await
    }

    async fn open(&self, run: &Id, area: Area, name: &str) -> Result<Download, FileError> {
        objects::presigned_download(self, &Self::key(run, area, name), name).await.map(Download::Redirect)
    }

    async fn list(&self, run: &Id, area: Area) -> Result<Vec<OutputFile>, FileError> {
        objects::list(self, &Self::area_prefix(run, area)).await
    }

    async fn delete(&self, run: &Id, area: Area, name: &str) -> Result<(), FileError> {
        let request = self.client.delete_object().bucket(&self.bucket).key(Self::key(run, area, name));
        request.send().await.map_err(backend)?;
        Ok(())
    }

    async fn delete_area(&self, run: &Id, area: Area) -> Result<(), FileError> {
        objects::delete_prefix(self, &Self::area_prefix(run, area)).await
    }

    async fn presign_upload(&self, run: &Id, fileid: &Id, size: u64) -> Result<PresignedUpload, FileError> {
        presign::presign_upload(self, &Self::staging_key(run, fileid), size).await
    }

    async fn complete_upload(
        &self,
        run: &Id,
        fileid: &Id,
        name: &str,
        size: u64,
        parts: &[CompletedPart],
    ) -> Result<u64, FileError> {
        let staging = Self::staging_key(run, fileid);
        let target = Self::key(run, Area::Inputs, name);
        presign::complete_upload(self, fileid, &staging, &target, size, parts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_keys_round_trip() {
        let (run, fileid) = (Id::new_random(), Id::new_random());
        let key = S3FileStore::staging_key(&run, &fileid);
        assert_eq!(S3FileStore::parse_staging_key(&key), Some((run.clone(), fileid)));
        assert_eq!(S3FileStore::parse_staging_key(&format!("runs/{run}/inputs/wrfbdy_d01")), None);
        assert_eq!(S3FileStore::parse_staging_key("staging/../x"), None);
    }

    #[test]
    fn options_respect_s3_limits() {
        let uploads = UploadConfig { part_bytes: 1024, multipart_threshold_bytes: u64::MAX, ..UploadConfig::default() };
        let options = S3Options::from_config(&uploads);
        assert_eq!(options.part_bytes, MIN_PART_BYTES);
        assert_eq!(options.multipart_threshold, MAX_SINGLE_BYTES);
    }
}
