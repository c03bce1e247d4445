//! The ports endpoint logic runs against: run store, token store, file store,
//! job scheduler and URL fetcher. The local server and the AWS functions each
//! plug their adapters into these traits.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use serde::{Deserialize, Serialize};

use crate::run::{Id, OutputFile, Run};

/// A stream of file bytes, read or written without holding the file in memory.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A failure of a storage backend, with the detail for the log (never for the user).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed since it was read (revision mismatch), so the write was not applied.
    #[error("the record changed since it was read")]
    Conflict,
    #[error("{0}")]
    Backend(String),
}

impl StoreError {
    pub fn backend(error: impl std::fmt::Display) -> Self {
        StoreError::Backend(error.to_string())
    }
}

#[async_trait]
pub trait RunStore: Send + Sync {
    async fn insert(&self, run: &Run) -> Result<(), StoreError>;

    async fn get(&self, id: &Id) -> Result<Option<Run>, StoreError>;

    /// Runs of `owner`, newest first.
    async fn list_by_owner(&self, owner: &str) -> Result<Vec<Run>, StoreError>;

    /// Runs whose status is `starting` or `active`, of every owner.
    async fn list_running(&self) -> Result<Vec<Run>, StoreError>;

    /// Stores `run` if the stored revision still equals `run.revision`, and
    /// returns it with the revision incremented; `Conflict` otherwise.
    async fn update(&self, run: &Run) -> Result<Run, StoreError>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Returns the user that owns the token with this SHA-256 hash (hex), if any.
    async fn user_for_token_hash(&self, hash: &str) -> Result<Option<String>, StoreError>;
}

/// The two folders of a run's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Inputs,
    Outputs,
}

impl Area {
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Inputs => "inputs",
            Area::Outputs => "outputs",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("file not found")]
    NotFound,
    /// The body passed the size limit; nothing was stored.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The body ended before its declared size or with an error; nothing was stored.
    #[error("the upload did not arrive whole: {0}")]
    Incomplete(String),
    #[error("{0}")]
    Backend(String),
}

/// Means by which a client fetches a stored file.
pub enum Download {
    /// The file's bytes, streamed through the server.
    Stream { size: u64, body: ByteStream },
    /// A presigned URL to fetch it from.
    Redirect(String),
}

/// One part of a presigned multipart upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadPart {
    pub part_number: u32,
    pub url: String,
    pub size: u64,
}

/// Destination and method for a client's upload of a large file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresignedUpload {
    /// URL for a single PUT of the whole file; `None` when `parts` are used.
    pub url: Option<String>,
    pub parts: Vec<UploadPart>,
    /// Headers the client must send with each PUT.
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: String,
}

/// A part the client uploaded, as named in the completion call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

#[async_trait]
pub trait FileStore: Send + Sync {
    /// Streams `body` into `area/name` of the run; the file appears only once
    /// it is stored whole, replacing an older file of that name. Returns its size.
    async fn put(&self, run: &Id, area: Area, name: &str, body: ByteStream, max_bytes: u64) -> Result<u64, FileError>;

    /// Reads a small file whole, failing with `TooLarge` above `max_bytes`.
    async fn read(&self, run: &Id, area: Area, name: &str, max_bytes: u64) -> Result<Vec<u8>, FileError>;

    async fn open(&self, run: &Id, area: Area, name: &str) -> Result<Download, FileError>;

    /// Files in `area`, sorted by name.
    async fn list(&self, run: &Id, area: Area) -> Result<Vec<OutputFile>, FileError>;

    async fn delete(&self, run: &Id, area: Area, name: &str) -> Result<(), FileError>;

    async fn delete_area(&self, run: &Id, area: Area) -> Result<(), FileError>;

    /// Prepares a presigned upload of `size` bytes that `complete_upload` later moves to `inputs/name`.
    async fn presign_upload(&self, run: &Id, fileid: &Id, size: u64) -> Result<PresignedUpload, FileError>;

    /// Checks that the presigned upload arrived whole with `size` bytes and moves it to `inputs/name`.
    async fn complete_upload(
        &self,
        run: &Id,
        fileid: &Id,
        name: &str,
        size: u64,
        parts: &[CompletedPart],
    ) -> Result<u64, FileError>;
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SchedulerError(pub String);

#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Returns the engine that runs the jobs: `wrf`, or `dry-run` when no WRF build is configured.
    fn engine(&self) -> String;

    /// Submits the run's job and returns its id. The run is `starting` with `cores` set.
    async fn submit(&self, run: &Run) -> Result<String, SchedulerError>;

    /// Ends the run's job; outputs written so far are kept.
    async fn terminate(&self, run: &Run) -> Result<(), SchedulerError>;
}

#[async_trait]
pub trait UrlFetcher: Send + Sync {
    /// Starts a background transfer of `url` into `inputs/name`; the transfer
    /// reports its end through `api::uploads::finish_transfer`.
    async fn enqueue(&self, run: &Id, fileid: &Id, name: &str, url: &str) -> Result<(), SchedulerError>;
}
