//! Reading, listing, presigned downloads and batch deletes of stored objects.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use cloudrun_core::ports::FileError;
use cloudrun_core::run::OutputFile;

use super::{backend, S3FileStore};

/// DeleteObjects removes at most this many keys per call.
const DELETE_BATCH: usize = 1000;

pub(super) async fn read(store: &S3FileStore, key: &str, max_bytes: u64) -> Result<Vec<u8>, FileError> {
    let result = store.client.get_object().bucket(&store.bucket).key(key).send().await;
    let output = match result {
        Ok(output) => output,
        Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Err(FileError::NotFound),
        Err(error) => return Err(backend(error)),
    };
    if output.content_length.is_some_and(|length| length as u64 > max_bytes) {
        return Err(FileError::TooLarge { limit: max_bytes });
    }
    let bytes = output.body.collect().await.map_err(|e| FileError::Backend(e.to_string()))?.into_bytes();
    if bytes.len() as u64 > max_bytes {
        return Err(FileError::TooLarge { limit: max_bytes });
    }
    Ok(bytes.to_vec())
}

/// Size of an object, or `None` when it does not exist.
pub(super) async fn size_of(store: &S3FileStore, key: &str) -> Result<Option<(u64, Option<String>)>, FileError> {
    match store.client.head_object().bucket(&store.bucket).key(key).send().await {
        Ok(output) => {
            let fileid = output.metadata.as_ref().and_then(|m| m.get(super::presign::FILEID_METADATA)).cloned();
            Ok(Some((output.content_length.unwrap_or(0).max(0) as u64, fileid)))
        }
        Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(error) => Err(backend(error)),
    }
}

/// Presigns a GET URL that downloads the object as an attachment named `filename`.
pub(super) async fn presigned_download(store: &S3FileStore, key: &str, filename: &str) -> Result<String, FileError> {
    if size_of(store, key).await?.is_none() {
        return Err(FileError::NotFound);
    }
    let disposition = format!("attachment; filename=\"{}\"", filename.replace(['"', '\\'], ""));
    let request = store
        .client
        .get_object()
        .bucket(&store.bucket)
        .key(key)
        .response_content_disposition(disposition)
        .presigned(store.presigning()?)
        .await
        .map_err(backend)?;
    Ok(request.uri().to_string())
}

/// Files directly under `prefix` (not in deeper folders), sorted by name.
pub(super) async fn list(store: &S3FileStore, prefix: &str) -> Result<Vec<OutputFile>, FileError> {
    let pages = store.client.list_objects_v2().bucket(&store.bucket).prefix(prefix).into_paginator().send();
    let pages: Vec<_> = pages.try_collect().await.map_err(backend)?;
    let mut files: Vec<OutputFile> = pages
        .iter()
        .flat_map(|page| page.contents())
        .filter_map(|object| {
            let filename = object.key()?.strip_prefix(prefix)?;
            let plain = !filename.is_empty() && !filename.contains('/');
            plain.then(|| OutputFile { filename: filename.to_string(), size: object.size().unwrap_or(0).max(0) as u64 })
        })
        .collect();
    files.sort_by(|a, b| a.filename.cmp(&b.filename));
    Ok(files)
}

/// Deletes every object under `prefix`, `DELETE_BATCH` keys per request.
pub(super) async fn delete_prefix(store: &S3FileStore, prefix: &str) -> Result<(), FileError> {
    let mut pages = store.client.list_objects_v2().bucket(&store.bucket).prefix(prefix).into_paginator().send();
    let mut keys = Vec::new();
    while let Some(page) = pages.try_next().await.map_err(backend)? {
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
    }
    for batch in keys.chunks(DELETE_BATCH) {
        let objects = batch
            .iter()
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build().map_err(backend)?;
        let output =
            store.client.delete_objects().bucket(&store.bucket).delete(delete).send().await.map_err(backend)?;
        if let Some(failed) = output.errors().first() {
            return Err(FileError::Backend(format!(
                "{} of {} objects under {prefix} were not deleted; first: {} ({})",
                output.errors().len(),
                batch.len(),
                failed.key().unwrap_or("?"),
                failed.message().unwrap_or("no message"),
            )));
        }
    }
    Ok(())
}
