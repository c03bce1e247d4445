//! Access from the worker to a run's stored files: inputs to stage, outputs to publish.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use cloudrun_core::ports::{Area, ByteStream, Download, FileStore};
use cloudrun_core::run::{Id, OutputFile};
use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

#[async_trait]
pub trait RunFiles: Send + Sync {
    /// Copies the stored input `name` to `target`.
    async fn fetch_input(&self, name: &str, target: &Path) -> Result<(), String>;

    /// Stores a finished file of the run directory as an output of the same name.
    async fn publish_output(&self, path: &Path) -> Result<(), String>;

    /// Lists the outputs stored so far.
    async fn list_outputs(&self) -> Result<Vec<OutputFile>, String>;
}

/// `RunFiles` over any `FileStore`, streaming through this process.
pub struct StoreFiles {
    pub files: Arc<dyn FileStore>,
    pub run: Id,
}

async fn write_stream(mut body: ByteStream, target: &Path) -> Result<(), String> {
    let mut file = tokio::fs::File::create(target).await.map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("reading {} failed: {e}", target.display()))?;
        file.write_all(&chunk).await.map_err(|e| format!("writing {} failed: {e}", target.display()))?;
    }
    file.flush().await.map_err(|e| e.to_string())
}

#[async_trait]
impl RunFiles for StoreFiles {
    async fn fetch_input(&self, name: &str, target: &Path) -> Result<(), String> {
        let download = self.files.open(&self.run, Area::Inputs, name).await.map_err(|e| format!("input {name}: {e}"))?;
        let body: ByteStream = match download {
            Download::Stream { body, .. } => body,
            Download::Redirect(url) => {
                let response = reqwest::get(&url).await.map_err(|e| format!("input {name}: download failed: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("input {name}: download answered {}", response.status()));
                }
                Box::pin(response.bytes_stream().map_err(std::io::Error::other))
            }
        };
        write_stream(body, target).await
    }

    async fn publish_output(&self, path: &Path) -> Result<(), String> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).ok_or("output without a name")?;
        let file = tokio::fs::File::open(path).await.map_err(|e| format!("cannot open {name}: {e}"))?;
        let body: ByteStream = Box::pin(tokio_util::io::ReaderStream::with_capacity(file, 1024 * 1024));
        self.files.put(&self.run, Area::Outputs, &name, body, u64::MAX).await.map(|_| ()).map_err(|e| format!("storing {name} failed: {e}"))
    }

    async fn list_outputs(&self) -> Result<Vec<OutputFile>, String> {
        self.files.list(&self.run, Area::Outputs).await.map_err(|e| e.to_string())
    }
}
