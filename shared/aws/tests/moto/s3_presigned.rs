//! Presigned uploads: single PUT, multipart with presigned part URLs, and their completion checks.

use cloudrun_aws::s3::S3FileStore;
use cloudrun_core::ports::{Area, CompletedPart, FileError, FileStore, PresignedUpload};
use cloudrun_core::run::Id;

use crate::helpers::{deployment, deployment_with, keys, object, pattern, test_config, test_options, MIB};

/// PUTs `body` to a presigned URL with the headers it came with and returns the ETag.
async fn put(url: &str, upload: &PresignedUpload, body: Vec<u8>) -> String {
    let mut request = reqwest::Client::new().put(url).body(body);
    for (name, value) in &upload.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("PUT");
    assert!(response.status().is_success(), "PUT answered {}", response.status());
    let etag = response.headers().get("etag").expect("ETag header").to_str().expect("ASCII");
    etag.to_string()
}

/// Uploads every part and returns the part list a client sends with its completion call.
async fn put_parts(upload: &PresignedUpload, data: &[u8]) -> Vec<CompletedPart> {
    let mut completed = Vec::new();
    let mut offset = 0usize;
    for part in &upload.parts {
        let body = data[offset..offset + part.size as usize].to_vec();
        offset += part.size as usize;
        completed.push(CompletedPart { part_number: part.part_number, etag: put(&part.url, upload, body).await });
    }
    completed
}

#[tokio::test]
async fn single_put_completes_once() {
    let (deployment, clients) = deployment().await;
    let (files, bucket) = (&deployment.files, &deployment.settings.bucket);
    let (run, fileid) = (Id::new_random(), Id::new_random());
    let data = pattern(3 * MIB);
    let upload = files.presign_upload(&run, &fileid, data.len() as u64).await.expect("presign");
    assert!(upload.parts.is_empty());
    let url = upload.url.clone().expect("a single PUT URL");
    assert!(url.contains(&format!("staging/{run}/{fileid}")), "staging key");
    assert!(!url.contains("x-amz-checksum"), "no checksum parameter a client cannot know");

    let early = files.complete_upload(&run, &fileid, "wrfinput_d01", data.len() as u64, &[]).await;
    assert!(matches!(early, Err(FileError::Incomplete(_))), "completion before the PUT");
    put(&url, &upload, data.clone()).await;
    let size = files.complete_upload(&run, &fileid, "wrfinput_d01", data.len() as u64, &[]).await.expect("complete");
    assert_eq!(size, data.len() as u64);
    let key = S3FileStore::key(&run, Area::Inputs, "wrfinput_d01");
    assert!(object(&clients, bucket, &key).await == Some(data.clone()), "content differs");
    assert_eq!(keys(&clients, bucket, &format!("staging/{run}/")).await.len(), 0, "staging removed");

    let again = files.complete_upload(&run, &fileid, "wrfinput_d01", data.len() as u64, &[]).await;
    assert_eq!(again.expect("a repeated completion succeeds"), size);
    let other = files.complete_upload(&run, &Id::new_random(), "wrfinput_d01", data.len() as u64, &[]).await;
    assert!(matches!(other, Err(FileError::Incomplete(_))), "another upload id is not done");
}

#[tokio::test]
async fn single_put_of_wrong_size_rejected() {
    let (deployment, clients) = deployment().await;
    let files = &deployment.files;
    let (run, fileid) = (Id::new_random(), Id::new_random());
    let upload = files.presign_upload(&run, &fileid, 1000).await.expect("presign");
    put(upload.url.as_deref().expect("URL"), &upload, pattern(999)).await;
    let error = files.complete_upload(&run, &fileid, "wrfbdy_d01", 1000, &[]).await.expect_err("short");
    assert!(error.to_string().contains("999 of 1000 bytes"), "{error}");
    assert_eq!(keys(&clients, &deployment.settings.bucket, &format!("runs/{run}/inputs/")).await.len(), 0);
}

#[tokio::test]
async fn multipart_upload_completes() {
    let (deployment, clients) = deployment().await;
    let files = &deployment.files;
    let (run, fileid) = (Id::new_random(), Id::new_random());
    let data = pattern(11 * MIB + 7);
    let upload = files.presign_upload(&run, &fileid, data.len() as u64).await.expect("presign");
    assert_eq!(upload.url, None);
    let sizes: Vec<u64> = upload.parts.iter().map(|p| p.size).collect();
    assert_eq!(sizes, vec![5 * MIB, 5 * MIB, MIB + 7]);

    let parts = put_parts(&upload, &data).await;
    let size = files.complete_upload(&run, &fileid, "met_em.d01", data.len() as u64, &parts).await.expect("complete");
    assert_eq!(size, data.len() as u64);
    let key = S3FileStore::key(&run, Area::Inputs, "met_em.d01");
    assert!(object(&clients, &deployment.settings.bucket, &key).await == Some(data), "content differs");
}

#[tokio::test]
async fn multipart_missing_part_rejected() {
    let (deployment, _) = deployment().await;
    let files = &deployment.files;
    let (run, fileid) = (Id::new_random(), Id::new_random());
    let data = pattern(11 * MIB);
    let upload = files.presign_upload(&run, &fileid, data.len() as u64).await.expect("presign");
    let first = put(&upload.parts[0].url, &upload, data[..5 * MIB as usize].to_vec()).await;
    let named = [CompletedPart { part_number: 1, etag: first }];
    let error = files.complete_upload(&run, &fileid, "met_em.d01", data.len() as u64, &named).await.expect_err("incomplete");
    assert!(error.to_string().contains("part 2 of 3 is missing"), "{error}");
}

#[tokio::test]
async fn multipart_unissued_part_rejected() {
    let (deployment, _) = deployment().await;
    let files = &deployment.files;
    let (run, fileid) = (Id::new_random(), Id::new_random());
    let data = pattern(11 * MIB);
    let upload = files.presign_upload(&run, &fileid, data.len() as u64).await.expect("presign");
    let parts = put_parts(&upload, &data).await;
    // An altered URL adds a fourth part; S3 would reject its signature, and the completion rejects the part.
    let altered = upload.parts[2].url.replace("partNumber=3", "partNumber=4");
    put(&altered, &upload, pattern(10)).await;
    let error = files.complete_upload(&run, &fileid, "met_em.d01", data.len() as u64, &parts).await.expect_err("extra part");
    assert!(error.to_string().contains("part 4 was not issued"), "{error}");
}

#[tokio::test]
async fn multipart_wrong_etag_rejected() {
    let (deployment, _) = deployment().await;
    let files = &deployment.files;
    let (run, fileid) = (Id::new_random(), Id::new_random());
    let data = pattern(11 * MIB);
    let upload = files.presign_upload(&run, &fileid, data.len() as u64).await.expect("presign");
    let mut parts = put_parts(&upload, &data).await;
    parts[1].etag = "\"0123\"".into();
    let error = files.complete_upload(&run, &fileid, "met_em.d01", data.len() as u64, &parts).await.expect_err("ETag");
    assert!(error.to_string().contains("part 2 does not match its ETag"), "{error}");
}

#[tokio::test]
async fn large_copy_uses_part_copies() {
    let config = test_config();
    let mut options = test_options(&config);
    options.max_single_copy_bytes = 6 * MIB;
    let (deployment, clients) = deployment_with(config, Some(options)).await;
    let files = &deployment.files;
    let (run, fileid) = (Id::new_random(), Id::new_random());
    let data = pattern(11 * MIB + 1);
    let upload = files.presign_upload(&run, &fileid, data.len() as u64).await.expect("presign");
    let parts = put_parts(&upload, &data).await;
    files.complete_upload(&run, &fileid, "met_em.d02", data.len() as u64, &parts).await.expect("complete");
    let key = S3FileStore::key(&run, Area::Inputs, "met_em.d02");
    assert!(object(&clients, &deployment.settings.bucket, &key).await == Some(data), "content differs");
}
