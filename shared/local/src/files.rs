//! The file store on disk, with HMAC-signed URLs standing in for S3's presigned ones.
//!
//! Layout under the data directory: `files/<run>/inputs/<name>`,
//! `files/<run>/outputs/<name>`, `files/<run>/staging/<fileid>[.part<N>]` for
//! presigned uploads, `files/<run>/tmp/` for writes in progress, and
//! `work/<run>/` where the runner executes the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cloudrun_core::ports::{
    Area, ByteStream, CompletedPart, Download, FileError, FileStore, PresignedUpload, UploadPart,
};
use cloudrun_core::run::{Id, OutputFile};
use cloudrun_core::time::WrfTime;
use futures::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

type HmacSha256 = Hmac<Sha256>;

/// Most parts of one multipart upload.
const MAX_PARTS: u64 = 10_000;

/// Files of every run under one data directory.
#[derive(Clone)]
pub struct FsFileStore {
    data_dir: PathBuf,
    /// Root URL clients reach this server at, e.g. `http://127.0.0.1:8080`.
    base_url: String,
    signing_key: Vec<u8>,
    url_seconds: u64,
    multipart_threshold: u64,
    part_bytes: u64,
}

/// Permission granted by a signed upload URL: one PUT of `size` bytes to one staging file until `expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadGrant {
    pub run: Id,
    pub fileid: Id,
    pub part: Option<u32>,
    pub size: u64,
    pub expires: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl FsFileStore {
    /// Opens the store; the signing key is kept in `<data_dir>/signing.key` and made on first use.
    pub fn open(
        data_dir: &Path,
        base_url: &str,
        config: &cloudrun_core::config::UploadConfig,
    ) -> std::io::Result<FsFileStore> {
        std::fs::create_dir_all(data_dir.join("files"))?;
        let key_path = data_dir.join("signing.key");
        let signing_key = match std::fs::read(&key_path) {
            Ok(key) if key.len() >= 32 => key,
            _ => {
                let key: [u8; 32] = rand::random();
                std::fs::write(&key_path, key)?;
                key.to_vec()
            }
        };
        Ok(FsFileStore {
            data_dir: data_dir.to_path_buf(),
            base_url: base_url.trim_end_matches('/').to_string(),
            signing_key,
            url_seconds: config.presigned_url_seconds,
            multipart_threshold: config.multipart_threshold_bytes,
            part_bytes: config.part_bytes.max(1),
        })
    }

    fn run_dir(&self, run: &Id) -> PathBuf {
        self.data_dir.join("files").join(run.as_str())
    }

    pub fn area_dir(&self, run: &Id, area: Area) -> PathBuf {
        self.run_dir(run).join(area.as_str())
    }

    /// Returns the folder the runner executes the run in.
    pub fn work_dir(&self, run: &Id) -> PathBuf {
        self.data_dir.join("work").join(run.as_str())
    }

    fn staging_path(&self, run: &Id, fileid: &Id, part: Option<u32>) -> PathBuf {
        let name = match part {
            Some(n) => format!("{fileid}.part{n}"),
            None => fileid.to_string(),
        };
        self.run_dir(run).join("staging").join(name)
    }

    /// Part size for a file of `size` bytes: the configured size, grown so that no upload
    /// has more than `MAX_PARTS` parts (the limit S3 sets, kept here so clients see one behaviour).
    fn part_bytes_for(&self, size: u64) -> u64 {
        self.part_bytes.max(size.div_ceil(MAX_PARTS))
    }

    fn signature(&self, grant: &UploadGrant) -> String {
        let message = format!(
            "PUT\n{}\n{}\n{}\n{}\n{}",
            grant.run,
            grant.fileid,
            grant.part.map(|p| p.to_string()).unwrap_or_default(),
            grant.size,
            grant.expires
        );
        let mut mac = HmacSha256::new_from_slice(&self.signing_key).expect("HMAC accepts keys of any length");
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn signed_url(&self, grant: &UploadGrant) -> String {
        let part = grant.part.map(|p| format!("&part={p}")).unwrap_or_default();
        format!(
            "{}/v1/files/{}/{}?size={}&expires={}{part}&signature={}",
            self.base_url,
            grant.run,
            grant.fileid,
            grant.size,
            grant.expires,
            self.signature(grant)
        )
    }

    /// Checks a signed URL's grant. The error names the problem without revealing the key.
    pub fn verify(&self, grant: &UploadGrant, signature: &str) -> Result<(), String> {
        let expected = self.signature(grant);
        let matches = expected.len() == signature.len()
            && expected.bytes().zip(signature.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !matches {
            return Err("invalid signature: the URL was altered or was not issued by this server".into());
        }
        if grant.expires < unix_now() {
            return Err("the upload URL has expired; request a new one".into());
        }
        Ok(())
    }

    /// Writes the body of a signed PUT to its staging file; it must have exactly the granted size.
    pub async fn receive_signed_put(&self, grant: &UploadGrant, body: ByteStream) -> Result<u64, FileError> {
        let path = self.staging_path(&grant.run, &grant.fileid, grant.part);
        let size = write_atomically(&self.run_dir(&grant.run).join("tmp"), &path, body, grant.size).await?;
        if size != grant.size {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(FileError::Incomplete(format!("received {size} of {} bytes", grant.size)));
        }
        Ok(size)
    }

    /// Makes a finished file of the run directory an output: a hard link, or a copy across file systems.
    pub async fn publish_output(&self, run: &Id, source: &Path) -> std::io::Result<()> {
        let Some(name) = source.file_name() else {
            return Ok(());
        };
        let outputs = self.area_dir(run, Area::Outputs);
        tokio::fs::create_dir_all(&outputs).await?;
        let target = outputs.join(name);
        if let (Ok(a), Ok(b)) = (tokio::fs::metadata(source).await, tokio::fs::metadata(&target).await) {
            use std::os::unix::fs::MetadataExt;
            if a.ino() == b.ino() && a.dev() == b.dev() {
                return Ok(());
            }
        }
        let temporary = outputs.join(format!(".{}.publishing", name.to_string_lossy()));
        let _ = tokio::fs::remove_file(&temporary).await;
        if tokio::fs::hard_link(source, &temporary).await.is_err() {
            tokio::fs::copy(source, &temporary).await?;
        }
        tokio::fs::rename(&temporary, &target).await
    }
}

/// Streams `body` into a temporary file and renames it to `target`, so a partial file never appears.
async fn write_atomically(tmp_dir: &Path, target: &Path, mut body: ByteStream, max_bytes: u64) -> Result<u64, FileError> {
    let backend = |e: std::io::Error| FileError::Backend(e.to_string());
    tokio::fs::create_dir_all(tmp_dir).await.map_err(backend)?;
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(backend)?;
    }
    let temporary = tmp_dir.join(hex::encode(rand::random::<[u8; 12]>()));
    let mut file = tokio::fs::File::create(&temporary).await.map_err(backend)?;
    let mut size = 0u64;
    let result = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| FileError::Incomplete(e.to_string()))?;
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(FileError::TooLarge { limit: max_bytes });
            }
            file.write_all(&chunk).await.map_err(backend)?;
        }
        file.flush().await.map_err(backend)?;
        file.sync_data().await.map_err(backend)?;
        Ok(())
    }
    .await;
    drop(file);
    if let Err(error) = result {
        let _ = tokio::fs::remove_file(&temporary).await;
        return Err(error);
    }
    tokio::fs::rename(&temporary, target).await.map_err(backend)?;
    Ok(size)
}

fn not_found_or_backend(error: std::io::Error) -> FileError {
    if error.kind() == std::io::ErrorKind::NotFound {
        FileError::NotFound
    } else {
        FileError::Backend(error.to_string())
    }
}

#[async_trait]
impl FileStore for FsFileStore {
    async fn put(&self, run: &Id, area: Area, name: &str, body: ByteStream, max_bytes: u64) -> Result<u64, FileError> {
        let target = self.area_dir(run, area).join(name);
        write_atomically(&self.run_dir(run).join("tmp"), &target, body, max_bytes).await
    }

    async fn read(&self, run: &Id, area: Area, name: &str, max_bytes: u64) -> Result<Vec<u8>, FileError> {
        let path = self.area_dir(run, area).join(name);
        let metadata = tokio::fs::metadata(&path).await.map_err(not_found_or_backend)?;
        if metadata.len() > max_bytes {
            return Err(FileError::TooLarge { limit: max_bytes });
        }
        tokio::fs::read(&path).await.map_err(not_found_or_backend)
    }

    async fn open(&self, run: &Id, area: Area, name: &str) -> Result<Download, FileError> {
        let path = self.area_dir(run, area).join(name);
        let file = tokio::fs::File::open(&path).await.map_err(not_found_or_backend)?;
        let size = file.metadata().await.map_err(not_found_or_backend)?.len();
        let body = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
        Ok(Download::Stream { size, body: Box::pin(body) })
    }

    async fn list(&self, run: &Id, area: Area) -> Result<Vec<OutputFile>, FileError> {
        let mut files = Vec::new();
        let mut entries = match tokio::fs::read_dir(self.area_dir(run, area)).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(FileError::Backend(e.to_string())),
        };
        while let Some(entry) = entries.next_entry().await.map_err(|e| FileError::Backend(e.to_string()))? {
            let filename = entry.file_name().to_string_lossy().into_owned();
            if filename.starts_with('.') {
                continue;
            }
            let metadata = entry.metadata().await.map_err(|e| FileError::Backend(e.to_string()))?;
            if metadata.is_file() {
                files.push(OutputFile { filename, size: metadata.len() });
            }
        }
        files.sort_by(|a, b| a.filename.cmp(&b.filename));
        Ok(files)
    }

    async fn delete(&self, run: &Id, area: Area, name: &str) -> Result<(), FileError> {
        match tokio::fs::remove_file(self.area_dir(run, area).join(name)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(FileError::Backend(e.to_string())),
        }
    }

    async fn delete_area(&self, run: &Id, area: Area) -> Result<(), FileError> {
        let mut folders = vec![self.area_dir(run, area)];
        if area == Area::Outputs {
            // The run directory contains the same output files under their first names.
            folders.push(self.work_dir(run));
        }
        for folder in folders {
            match tokio::fs::remove_dir_all(&folder).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(FileError::Backend(e.to_string())),
            }
        }
        Ok(())
    }

    async fn presign_upload(&self, run: &Id, fileid: &Id, size: u64) -> Result<PresignedUpload, FileError> {
        let expires = unix_now() + self.url_seconds;
        let expires_at = WrfTime::now().add_seconds(self.url_seconds as i64).to_string();
        let grant = |part: Option<u32>, size: u64| UploadGrant { run: run.clone(), fileid: fileid.clone(), part, size, expires };
        let headers = BTreeMap::from([("Content-Type".to_string(), "application/octet-stream".to_string())]);
        if size <= self.multipart_threshold {
            return Ok(PresignedUpload { url: Some(self.signed_url(&grant(None, size))), parts: Vec::new(), headers, expires_at });
        }
        let part_bytes = self.part_bytes_for(size);
        let count = size.div_ceil(part_bytes);
        let parts = (0..count)
            .map(|index| {
                let part_size = (size - index * part_bytes).min(part_bytes);
                let part_number = index as u32 + 1;
                UploadPart { part_number, url: self.signed_url(&grant(Some(part_number), part_size)), size: part_size }
            })
            .collect();
        Ok(PresignedUpload { url: None, parts, headers, expires_at })
    }

    async fn complete_upload(
        &self,
        run: &Id,
        fileid: &Id,
        name: &str,
        size: u64,
        parts: &[CompletedPart],
    ) -> Result<u64, FileError> {
        let target = self.area_dir(run, Area::Inputs).join(name);
        let single = self.staging_path(run, fileid, None);
        if size <= self.multipart_threshold {
            let metadata = tokio::fs::metadata(&single)
                .await
                .map_err(|_| FileError::Incomplete("nothing was uploaded to the upload URL yet".into()))?;
            if metadata.len() != size {
                return Err(FileError::Incomplete(format!("{} of {size} bytes arrived", metadata.len())));
            }
            tokio::fs::create_dir_all(target.parent().unwrap_or(Path::new("."))).await.map_err(|e| FileError::Backend(e.to_string()))?;
            tokio::fs::rename(&single, &target).await.map_err(|e| FileError::Backend(e.to_string()))?;
            return Ok(size);
        }
        // Parts are joined in part-number order; every part must be present with its granted size.
        let count = size.div_ceil(self.part_bytes_for(size)) as u32;
        if !parts.is_empty() && parts.len() as u32 != count {
            return Err(FileError::Incomplete(format!("{} of {count} parts listed", parts.len())));
        }
        let mut streams: Vec<ByteStream> = Vec::new();
        for number in 1..=count {
            let path = self.staging_path(run, fileid, Some(number));
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|_| FileError::Incomplete(format!("part {number} of {count} is missing")))?;
            streams.push(Box::pin(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024)));
        }
        let joined: ByteStream = Box::pin(futures::stream::iter(streams).flatten());
        let written = write_atomically(&self.run_dir(run).join("tmp"), &target, joined, size).await?;
        if written != size {
            let _ = tokio::fs::remove_file(&target).await;
            return Err(FileError::Incomplete(format!("{written} of {size} bytes arrived")));
        }
        for number in 1..=count {
            let _ = tokio::fs::remove_file(self.staging_path(run, fileid, Some(number))).await;
        }
        Ok(written)
    }
}
