//! Presigned uploads of large files: single PUT URLs, multipart uploads with one presigned URL
//! per part, and their completion, which checks what arrived and copies it to `inputs/`.
//!
//! The completion only trusts the key, upload id and part set that this store issued: the client
//! names its upload by file id, the parts are read back with ListParts, and every part must have
//! the number and size it was issued with. (S3 checks the URL signatures; some emulators do not.)

use std::collections::BTreeMap;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart as S3Part, MetadataDirective};
use cloudrun_core::ports::{CompletedPart, FileError, PresignedUpload, UploadPart};
use cloudrun_core::run::Id;
use cloudrun_core::time::WrfTime;
use futures::{StreamExt, TryStreamExt};

use super::{backend, objects, S3FileStore, MAX_PARTS};

/// User metadata naming the upload an input object came from, so a repeated completion can tell it is done.
pub(super) const FILEID_METADATA: &str = "cloudrun-fileid";
/// Part copies running at once when a large upload is copied to `inputs/`.
const COPY_CONCURRENCY: usize = 8;

/// Sizes of the parts a multipart upload of `size` bytes is split into.
fn part_sizes(size: u64, part_bytes: u64) -> Vec<u64> {
    let count = size.div_ceil(part_bytes).max(1);
    (0..count).map(|index| (size - index * part_bytes).min(part_bytes)).collect()
}

pub(super) async fn presign_upload(store: &S3FileStore, key: &str, size: u64) -> Result<PresignedUpload, FileError> {
    let expires_at = WrfTime::now().add_seconds(store.options.url_seconds as i64).to_string();
    let presigning = store.presigning()?;
    if size <= store.options.multipart_threshold {
        let request = store.client.put_object().bucket(&store.bucket).key(key).presigned(presigning).await.map_err(backend)?;
        let headers = client_headers(request.headers());
        return Ok(PresignedUpload { url: Some(request.uri().to_string()), parts: Vec::new(), headers, expires_at });
    }

    let sizes = part_sizes(size, store.options.part_bytes);
    if sizes.len() as u64 > MAX_PARTS {
        return Err(FileError::TooLarge { limit: store.options.part_bytes * MAX_PARTS });
    }
    let created = store.client.create_multipart_upload().bucket(&store.bucket).key(key).send().await.map_err(backend)?;
    let upload_id = created.upload_id().ok_or_else(|| FileError::Backend("S3 returned no upload id".into()))?;
    let mut parts = Vec::with_capacity(sizes.len());
    let mut headers = BTreeMap::new();
    for (index, part_size) in sizes.iter().enumerate() {
        let part_number = index as u32 + 1;
        let request = store
            .client
            .upload_part()
            .bucket(&store.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number as i32)
            .presigned(presigning.clone())
            .await
            .map_err(backend)?;
        headers = client_headers(request.headers());
        parts.push(UploadPart { part_number, url: request.uri().to_string(), size: *part_size });
    }
    Ok(PresignedUpload { url: None, parts, headers, expires_at })
}

/// Headers a client must send with a presigned request; HTTP clients set `host` themselves.
fn client_headers<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    headers.filter(|(name, _)| !name.eq_ignore_ascii_case("host")).map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

pub(super) async fn complete_upload(
    store: &S3FileStore,
    fileid: &Id,
    staging: &str,
    target: &str,
    size: u64,
    parts: &[CompletedPart],
) -> Result<u64, FileError> {
    if size > store.options.multipart_threshold {
        if let Some(upload_id) = pending_multipart(store, staging).await? {
            complete_multipart(store, staging, &upload_id, size, parts).await?;
        }
    }
    match objects::size_of(store, staging).await? {
        Some((stored, _)) if stored == size => {}
        Some((stored, _)) => {
            return Err(FileError::Incomplete(format!("{stored} of {size} bytes arrived; send the file again")))
        }
        // A completion that ran before already moved the file: the input carries this upload's id.
        None => {
            return match objects::size_of(store, target).await? {
                Some((stored, Some(id))) if id == fileid.as_str() && stored == size => Ok(size),
                _ => Err(FileError::Incomplete("nothing was uploaded to the upload URL yet".into())),
            }
        }
    }
    copy_object(store, fileid, staging, target, size).await?;
    store.client.delete_object().bucket(&store.bucket).key(staging).send().await.map_err(backend)?;
    Ok(size)
}

/// Finds the id of the multipart upload in progress for `key`, if there is one.
async fn pending_multipart(store: &S3FileStore, key: &str) -> Result<Option<String>, FileError> {
    let output =
        store.client.list_multipart_uploads().bucket(&store.bucket).prefix(key).send().await.map_err(backend)?;
    let mut uploads = output.uploads().iter().filter(|u| u.key() == Some(key));
    Ok(uploads.next().and_then(|u| u.upload_id().map(str::to_string)))
}

/// Checks the uploaded parts against the issued part set, then completes the multipart upload.
async fn complete_multipart(
    store: &S3FileStore,
    key: &str,
    upload_id: &str,
    size: u64,
    named: &[CompletedPart],
) -> Result<(), FileError> {
    let request = store.client.list_parts().bucket(&store.bucket).key(key).upload_id(upload_id);
    let pages: Vec<_> = request.into_paginator().send().try_collect().await.map_err(backend)?;
    let uploaded: BTreeMap<u32, (u64, String)> = pages
        .iter()
        .flat_map(|page| page.parts())
        .map(|p| {
            let number = p.part_number().unwrap_or(0).max(0) as u32;
            (number, (p.size().unwrap_or(0).max(0) as u64, p.e_tag().unwrap_or_default().to_string()))
        })
        .collect();
    let expected = part_sizes(size, store.options.part_bytes);
    check_parts(&expected, &uploaded, named)?;

    let completed = uploaded
        .iter()
        .map(|(number, (_, etag))| S3Part::builder().part_number(*number as i32).e_tag(etag).build())
        .collect();
    let upload = CompletedMultipartUpload::builder().set_parts(Some(completed)).build();
    let request = store.client.complete_multipart_upload().bucket(&store.bucket).key(key).upload_id(upload_id);
    request.multipart_upload(upload).send().await.map_err(backend)?;
    Ok(())
}

/// Every issued part must be there with its issued size, and a part list the client sent must match.
fn check_parts(expected: &[u64], uploaded: &BTreeMap<u32, (u64, String)>, named: &[CompletedPart]) -> Result<(), FileError> {
    for (index, size) in expected.iter().enumerate() {
        let number = index as u32 + 1;
        match uploaded.get(&number) {
            None => return Err(FileError::Incomplete(format!("part {number} of {} is missing", expected.len()))),
            Some((got, _)) if got != size => {
                return Err(FileError::Incomplete(format!("part {number} has {got} bytes, expected {size}")))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = uploaded.keys().find(|n| **n as usize > expected.len()) {
        return Err(FileError::Incomplete(format!("part {extra} was not issued; only {} parts were", expected.len())));
    }
    if named.is_empty() {
        return Ok(());
    }
    if named.len() != expected.len() {
        return Err(FileError::Incomplete(format!("{} of {} parts listed", named.len(), expected.len())));
    }
    for part in named {
        let stored = uploaded.get(&part.part_number).map(|(_, etag)| etag.trim_matches('"'));
        if stored != Some(part.etag.trim_matches('"')) {
            return Err(FileError::Incomplete(format!("part {} does not match its ETag", part.part_number)));
        }
    }
    Ok(())
}

/// Copies `source` to `target`, tagging the copy with the upload's file id.
async fn copy_object(store: &S3FileStore, fileid: &Id, source: &str, target: &str, size: u64) -> Result<(), FileError> {
    let copy_source = format!("{}/{}", store.bucket, encode_key(source));
    if size <= store.options.max_single_copy_bytes {
        let request = store
            .client
            .copy_object()
            .bucket(&store.bucket)
            .key(target)
            .copy_source(copy_source)
            .metadata_directive(MetadataDirective::Replace)
            .metadata(FILEID_METADATA, fileid.as_str());
        request.send().await.map_err(backend)?;
        return Ok(());
    }
    let created = store
        .client
        .create_multipart_upload()
        .bucket(&store.bucket)
        .key(target)
        .metadata(FILEID_METADATA, fileid.as_str())
        .send()
        .await
        .map_err(backend)?;
    let upload_id = created.upload_id().ok_or_else(|| FileError::Backend("S3 returned no upload id".into()))?;
    let result = copy_parts(store, &copy_source, target, upload_id, size).await;
    if result.is_err() {
        let abort = store.client.abort_multipart_upload().bucket(&store.bucket).key(target).upload_id(upload_id);
        let _ = abort.send().await;
    }
    result
}

async fn copy_parts(store: &S3FileStore, source: &str, target: &str, upload_id: &str, size: u64) -> Result<(), FileError> {
    let part_bytes = store.options.part_bytes;
    let copies = part_sizes(size, part_bytes).into_iter().enumerate().map(|(index, part_size)| {
        let first = index as u64 * part_bytes;
        let request = store
            .client
            .upload_part_copy()
            .bucket(&store.bucket)
            .key(target)
            .upload_id(upload_id)
            .part_number(index as i32 + 1)
            .copy_source(source)
            .copy_source_range(format!("bytes={first}-{}", first + part_size - 1));
        async move {
            let output = request.send().await.map_err(backend)?;
            let etag = output.copy_part_result().and_then(|r| r.e_tag()).unwrap_or_default().to_string();
            Ok::<_, FileError>(S3Part::builder().part_number(index as i32 + 1).e_tag(etag).build())
        }
    });
    let parts: Vec<S3Part> = futures::stream::iter(copies).buffered(COPY_CONCURRENCY).try_collect().await?;
    let upload = CompletedMultipartUpload::builder().set_parts(Some(parts)).build();
    let request = store.client.complete_multipart_upload().bucket(&store.bucket).key(target).upload_id(upload_id);
    request.multipart_upload(upload).send().await.map_err(backend)?;
    Ok(())
}

/// Percent-encodes a key for `x-amz-copy-source`, keeping `/` and unreserved characters.
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_size() {
        assert_eq!(part_sizes(10, 4), vec![4, 4, 2]);
        assert_eq!(part_sizes(8, 4), vec![4, 4]);
        assert_eq!(part_sizes(0, 4), vec![0]);
    }

    #[test]
    fn copy_source_is_encoded() {
        assert_eq!(encode_key("runs/a/inputs/met em+1 ä"), "runs/a/inputs/met%20em%2B1%20%C3%A4");
    }

    #[test]
    fn part_set_must_match_issue() {
        let uploaded = BTreeMap::from([(1, (4, "\"a\"".to_string())), (2, (2, "\"b\"".to_string()))]);
        assert!(check_parts(&[4, 2], &uploaded, &[]).is_ok());
        let missing = check_parts(&[4, 2, 2], &uploaded, &[]).expect_err("part 3 missing").to_string();
        assert!(missing.contains("part 3"), "{missing}");
        let short = check_parts(&[4, 3], &uploaded, &[]).expect_err("part 2 short").to_string();
        assert!(short.contains("part 2 has 2 bytes"), "{short}");
        let extra = check_parts(&[4], &uploaded, &[]).expect_err("part 2 not issued").to_string();
        assert!(extra.contains("not issued"), "{extra}");
        let wrong_etag = [CompletedPart { part_number: 1, etag: "a".into() }, CompletedPart { part_number: 2, etag: "c".into() }];
        assert!(check_parts(&[4, 2], &uploaded, &wrong_etag).is_err());
    }
}
