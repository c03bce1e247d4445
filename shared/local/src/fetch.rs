//! `upload_url` on the local server: downloads a remote file into the run's
//! inputs in the background, checking every address of every hop first.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use cloudrun_core::api::uploads::finish_transfer;
use cloudrun_core::api::Services;
use cloudrun_core::config::UploadUrlConfig;
use cloudrun_core::ports::{Area, ByteStream, FileError, FileStore, SchedulerError, UrlFetcher};
use cloudrun_core::run::Id;
use cloudrun_core::url_guard::{resolve_checked, Network};
use futures::TryStreamExt;
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

    /// Downloads `url` into `inputs/name`, following redirects one checked hop at a time.
    async fn transfer(&self, run: &Id, name: &str, url: &str) -> Result<u64, String> {
        let mut current = url::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        for _ in 0..=self.config.max_redirects {
            if !matches!(current.scheme(), "http" | "https") {
                return Err(format!(
                    "`{}` URLs are not fetched by the local server; use http or https",
                    current.scheme()
                ));
            }
            let address = resolve_checked(&current, &self.allowed).await?;
            let host = current.host_str().unwrap_or_default().to_string();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .resolve(&host, address)
                .connect_timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
            let response = client.get(current.clone()).send().await.map_err(|e| format!("request failed: {e}"))?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or("a redirect without a Location header")?;
                current = current.join(location).map_err(|e| format!("invalid redirect target: {e}"))?;
                continue;
            }
            if !response.status().is_success() {
                return Err(format!("the remote server answered {}", response.status()));
            }
            if let Some(length) = response.content_length() {
                if length > self.config.max_bytes {
                    return Err(format!("the file has {length} bytes, above the limit of {} bytes", self.config.max_bytes));
                }
            }
            let body: ByteStream = Box::pin(response.bytes_stream().map_err(std::io::Error::other));
            return self.files.put(run, Area::Inputs, name, body, self.config.max_bytes).await.map_err(|e| match e {
                FileError::TooLarge { limit } => format!("the file is larger than the limit of {limit} bytes"),
                other => other.to_string(),
            });
        }
        Err(format!("more than {} redirects", self.config.max_redirects))
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
