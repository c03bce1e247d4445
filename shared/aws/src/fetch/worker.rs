//! The transfer itself, through `cloudrun_core::transfer::download_checked`, which checks
//! every hop and caps the size. The whole transfer runs under a time cap.

use std::time::Duration;

use cloudrun_core::api::uploads::finish_transfer;
use cloudrun_core::api::Services;
use cloudrun_core::config::UploadUrlConfig;
use cloudrun_core::error::ApiError;
use cloudrun_core::transfer::download_checked;
use cloudrun_core::url_guard::Network;

use super::TransferRequest;

/// Downloads remote files within the limits of `[upload_url]`.
#[derive(Clone, Debug)]
pub struct Downloader {
    config: UploadUrlConfig,
    allowed: Vec<Network>,
}

impl Downloader {
    pub fn new(config: &UploadUrlConfig) -> Result<Downloader, String> {
        let allowed = config.allowed_networks.iter().map(|n| Network::parse(n)).collect::<Result<Vec<_>, _>>()?;
        Ok(Downloader { config: config.clone(), allowed })
    }

    /// Streams `url` into the run's `inputs/<filename>` and returns the stored size.
    async fn download(&self, services: &Services, request: &TransferRequest) -> Result<u64, String> {
        let files = services.files.as_ref();
        download_checked(files, &request.run_id, &request.filename, &request.url, &self.config, &self.allowed, public_url).await
    }
}

/// Checks a hop's URL and turns `s3://bucket/key` into the bucket's public HTTPS address.
///
/// An `s3` URL is fetched without credentials, as anyone on the internet would, so it reaches
/// public objects only and never what the function's own role may read.
fn public_url(text: &str) -> Result<url::Url, String> {
    let checked = cloudrun_core::url_guard::check_url_syntax(text)?.0;
    match checked.scheme() {
        "http" | "https" => Ok(checked),
        "s3" => {
            let bucket = checked.host_str().unwrap_or_default();
            let https = format!("https://s3.amazonaws.com/{bucket}{}", checked.path());
            url::Url::parse(&https).map_err(|e| format!("invalid s3 URL: {e}"))
        }
        other => Err(format!("unsupported URL scheme `{other}`; use http, https or s3")),
    }
}

/// Runs one transfer under the time cap and records its outcome on the run.
///
/// `time_left` is what the caller can still wait (the Lambda's remaining time less a margin);
/// the cap is the smaller of it and `upload_url.timeout_seconds`.
pub async fn run_transfer(
    services: &Services,
    downloader: &Downloader,
    request: &TransferRequest,
    time_left: Duration,
) -> Result<(), ApiError> {
    let limit = time_left.min(Duration::from_secs(downloader.config.timeout_seconds));
    let outcome = match tokio::time::timeout(limit, downloader.download(services, request)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("the transfer took longer than {} s and was cancelled", limit.as_secs())),
    };
    finish_transfer(services, &request.run_id, &request.fileid, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudrun_core::url_guard::resolve_checked;

    #[test]
    fn s3_urls_become_public_https() {
        let url = public_url("s3://wrf-data/case1/wrfbdy_d01").expect("valid");
        assert_eq!(url.as_str(), "https://s3.amazonaws.com/wrf-data/case1/wrfbdy_d01");
        assert!(public_url("ftp://example.com/wrfbdy_d01").is_err());
        assert!(public_url("http://user:secret@example.com/x").is_err());
    }

    #[tokio::test]
    async fn forbidden_addresses_rejected_before_connecting() {
        let downloader = Downloader::new(&UploadUrlConfig::default()).expect("valid");
        for text in ["http://127.0.0.1:9/x", "http://169.254.169.254/latest/meta-data/", "http://[::1]/x", "http://10.0.0.8/x"] {
            let url = url::Url::parse(text).expect("valid");
            let error = resolve_checked(&url, &downloader.allowed).await.expect_err("forbidden");
            assert!(error.contains("which cloudrun does not fetch"), "{text}: {error}");
        }
    }

    #[tokio::test]
    async fn allow_list_admits_loopback() {
        let config = UploadUrlConfig { allowed_networks: vec!["127.0.0.1/32".into()], ..UploadUrlConfig::default() };
        let downloader = Downloader::new(&config).expect("valid");
        let url = url::Url::parse("http://127.0.0.1:8000/x").expect("valid");
        assert_eq!(resolve_checked(&url, &downloader.allowed).await.expect("allowed"), "127.0.0.1:8000".parse().expect("address"));
    }
}
