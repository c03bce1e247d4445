//! `upload_url` on the local server: downloads a remote file into the run's
//! inputs in the background, checking every address of every hop first.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use cloudrun_core::api::uploads::finish_transfer;
use cloudrun_core::api::Services;
use cloudrun_core::config::UploadUrlConfig;
use cloudrun_core::ports::{SchedulerError, UrlFetcher};
use cloudrun_core::run::Id;
use cloudrun_core::transfer::download_checked;
use cloudrun_core::url_guard::Network;
use tracing::error;

use crate::files::FsFileStore;

pub struct LocalFetcher {
    config: UploadUrlConfig,
    allowed: Vec<Network>,
    files: FsFileStore,
    services: OnceLock<Services>,
}

impl LocalFetcher {
    pub fn new(config: UploadUrlConfig, files: FsFileStore) -> Result<Arc<LocalFetcher>, String> {
        let allowed = config.allowed_networks.iter().map(|n| Network::parse(n)).collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(LocalFetcher { config, allowed, files, services: OnceLock::new() }))
    }

    pub fn attach(&self, services: Services) {
        let _ = self.services.set(services);
    }

    /// Downloads `url` into `inputs/name`; only http and https are fetched locally.
    async fn transfer(&self, run: &Id, name: &str, url: &str) -> Result<u64, String> {
        download_checked(&self.files, run, name, url, &self.config, &self.allowed, local_hop).await
    }
}

/// Checks one hop's URL for the local server, which has no S3 credentials or endpoint.
fn local_hop(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("invalid URL: {e}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("`{other}` URLs are not fetched by the local server; use http or https")),
    }
}

#[async_trait]
impl UrlFetcher for LocalFetcher {
    async fn enqueue(&self, run: &Id, fileid: &Id, name: &str, url: &str) -> Result<(), SchedulerError> {
        let services = self.services.get().cloned().ok_or_else(|| SchedulerError("fetcher not ready".into()))?;
        let me = LocalFetcher { config: self.config.clone(), allowed: self.allowed.clone(), files: self.files.clone(), services: OnceLock::new() };
        let (run, fileid, name, url) = (run.clone(), fileid.clone(), name.to_string(), url.to_string());
        let limit = Duration::from_secs(self.config.timeout_seconds);
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout(limit, me.transfer(&run, &name, &url)).await {
                Ok(result) => result,
                Err(_) => Err(format!("the transfer took longer than {} s and was cancelled", limit.as_secs())),
            };
            if let Err(error) = finish_transfer(&services, &run, &fileid, outcome).await {
                error!(run_id = %run, fileid = %fileid, %error, "recording the transfer result failed");
            }
        });
        Ok(())
    }
}
