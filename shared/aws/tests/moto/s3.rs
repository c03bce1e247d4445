//! The S3 file store: streamed puts, reads, listing, downloads and deletes.

use cloudrun_aws::s3::S3FileStore;
use cloudrun_core::ports::{Area, ByteStream, Download, FileError, FileStore};
use cloudrun_core::run::Id;

use crate::helpers::{chunked, deployment, keys, object, pattern, MIB};

#[tokio::test]
async fn small_file_round_trips() {
    let (deployment, clients) = deployment().await;
    let (files, bucket) = (&deployment.files, &deployment.settings.bucket);
    let run = Id::new_random();
    let size = files.put(&run, Area::Inputs, "namelist.input", chunked(b"&domains\n/\n".to_vec(), 4), 1024).await;
    assert_eq!(size.expect("put"), 11);
    assert_eq!(files.read(&run, Area::Inputs, "namelist.input", 1024).await.expect("read"), b"&domains\n/\n");
    assert!(matches!(files.read(&run, Area::Inputs, "namelist.input", 5).await, Err(FileError::TooLarge { limit: 5 })));
    assert!(matches!(files.read(&run, Area::Inputs, "absent", 5).await, Err(FileError::NotFound)));
    let key = format!("runs/{run}/inputs/namelist.input");
    assert_eq!(object(&clients, bucket, &key).await.as_deref(), Some(&b"&domains\n/\n"[..]));
}

#[tokio::test]
async fn large_stream_uses_multipart() {
    let (deployment, clients) = deployment().await;
    let run = Id::new_random();
    let data = pattern(11 * MIB + 123);
    let size = deployment.files.put(&run, Area::Outputs, "wrfout_d01", chunked(data.clone(), 64 * 1024), 100 * MIB).await;
    assert_eq!(size.expect("put"), data.len() as u64);
    let key = S3FileStore::key(&run, Area::Outputs, "wrfout_d01");
    let head = clients.s3.head_object().bucket(&deployment.settings.bucket).key(&key).send().await.expect("head");
    assert!(head.e_tag().unwrap_or_default().contains('-'), "a multipart ETag ends in -<parts>: {:?}", head.e_tag());
    assert!(object(&clients, &deployment.settings.bucket, &key).await == Some(data), "content differs");
}

#[tokio::test]
async fn oversized_stream_stores_nothing() {
    let (deployment, clients) = deployment().await;
    let (files, bucket) = (&deployment.files, &deployment.settings.bucket);
    let run = Id::new_random();
    for (size, limit) in [(1000u64, 999u64), (12 * MIB, 11 * MIB)] {
        let result = files.put(&run, Area::Inputs, "wrfbdy_d01", chunked(pattern(size), 256 * 1024), limit).await;
        assert!(matches!(result, Err(FileError::TooLarge { .. })), "{size} bytes over {limit}");
    }
    assert_eq!(keys(&clients, bucket, &format!("runs/{run}/")).await, Vec::<String>::new());
    let uploads = clients.s3.list_multipart_uploads().bucket(bucket).send().await.expect("list uploads");
    assert_eq!(uploads.uploads().len(), 0, "the multipart upload was aborted");
}

#[tokio::test]
async fn broken_stream_stores_nothing() {
    let (deployment, clients) = deployment().await;
    let run = Id::new_random();
    let good = chunked(pattern(7 * MIB), MIB as usize);
    let broken: ByteStream = Box::pin(futures::StreamExt::chain(
        good,
        futures::stream::iter([Err(std::io::Error::other("connection reset"))]),
    ));
    let result = deployment.files.put(&run, Area::Inputs, "wrfinput_d01", broken, 100 * MIB).await;
    assert!(matches!(result, Err(FileError::Incomplete(_))));
    assert_eq!(keys(&clients, &deployment.settings.bucket, &format!("runs/{run}/")).await, Vec::<String>::new());
}

#[tokio::test]
async fn list_open_and_delete_area() {
    let (deployment, clients) = deployment().await;
    let files = &deployment.files;
    let run = Id::new_random();
    for name in ["wrfout_d01_2016-12-25_00:00:00", "rsl.out.0000"] {
        files.put(&run, Area::Outputs, name, chunked(name.as_bytes().to_vec(), 8), 1024).await.expect("put");
    }
    files.put(&run, Area::Inputs, "namelist.input", chunked(b"x".to_vec(), 1), 1024).await.expect("put");
    let listed: Vec<String> = files.list(&run, Area::Outputs).await.expect("list").into_iter().map(|f| f.filename).collect();
    assert_eq!(listed, vec!["rsl.out.0000".to_string(), "wrfout_d01_2016-12-25_00:00:00".to_string()]);

    let Download::Redirect(url) = files.open(&run, Area::Outputs, "rsl.out.0000").await.expect("open") else {
        panic!("S3 downloads are presigned redirects");
    };
    assert!(url.contains("X-Amz-Signature="), "presigned: {}", url.split('?').next().unwrap_or(""));
    let body = reqwest::get(&url).await.expect("GET").bytes().await.expect("body");
    assert_eq!(&body[..], b"rsl.out.0000");
    assert!(matches!(files.open(&run, Area::Outputs, "absent").await, Err(FileError::NotFound)));

    files.delete_area(&run, Area::Outputs).await.expect("delete area");
    assert_eq!(files.list(&run, Area::Outputs).await.expect("list").len(), 0);
    let remaining = keys(&clients, &deployment.settings.bucket, &format!("runs/{run}/")).await;
    assert_eq!(remaining, vec![format!("runs/{run}/inputs/namelist.input")], "inputs stay");
}

#[tokio::test]
async fn delete_area_spans_batches() {
    let (deployment, clients) = deployment().await;
    let (bucket, run) = (&deployment.settings.bucket, Id::new_random());
    let puts = (0..1003).map(|i| {
        let key = S3FileStore::key(&run, Area::Outputs, &format!("wrfout_{i:04}"));
        clients.s3.put_object().bucket(bucket).key(key).body(Vec::from("x").into()).send()
    });
    let results: Vec<_> = futures::StreamExt::collect(futures::StreamExt::buffer_unordered(futures::stream::iter(puts), 16)).await;
    assert!(results.iter().all(Result::is_ok), "every put succeeded");
    assert_eq!(deployment.files.list(&run, Area::Outputs).await.expect("list").len(), 1003);
    deployment.files.delete_area(&run, Area::Outputs).await.expect("delete area");
    assert_eq!(deployment.files.list(&run, Area::Outputs).await.expect("list").len(), 0);
}
