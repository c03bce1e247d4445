//! The `upload_url` download shared by every deployment: each hop's URL is
//! checked, every resolved address passes `url_guard` before the connection
//! is made, redirects are followed one checked hop at a time, and the body
//! streams into the file store under the size cap.

use std::time::Duration;

use futures::TryStreamExt;

use crate::config::UploadUrlConfig;
use crate::ports::{Area, ByteStream, FileError, FileStore};
use crate::run::Id;
use crate::url_guard::{resolve_checked, Network};

/// Downloads `url` into the run's `inputs/<name>` and returns the stored size.
///
/// `check_hop` validates each URL, the first and every redirect target, and may rewrite it
/// (the AWS deployment turns `s3://` into the bucket's public HTTPS address).
pub async fn download_checked(
    files: &dyn FileStore,
    run: &Id,
    name: &str,
    url: &str,
    config: &UploadUrlConfig,
    allowed: &[Network],
    check_hop: impl Fn(&str) -> Result<url::Url, String>,
) -> Result<u64, String> {
    let mut current = check_hop(url)?;
    for _ in 0..=config.max_redirects {
        let address = resolve_checked(&current, allowed).await?;
        let host = current.host_str().unwrap_or_default().to_string();
        // The client connects only to the address just checked, so DNS cannot change it in between.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .resolve(&host, address)
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        // Errors leave the URL out, because its query string may carry a signature.
        let response = client.get(current.clone()).send().await.map_err(|e| format!("request failed: {}", e.without_url()))?;
        if response.status().is_redirection() {
            let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
            let location = location.ok_or("the remote server sent a redirect without a Location header")?;
            let target = current.join(location).map_err(|e| format!("invalid redirect target: {e}"))?;
            current = check_hop(target.as_str())?;
            continue;
        }
        if !response.status().is_success() {
            return Err(format!("the remote server answered {}", response.status()));
        }
        let limit = config.max_bytes;
        if let Some(length) = response.content_length().filter(|length| *length > limit) {
            return Err(format!("the file has {length} bytes, above the limit of {limit} bytes"));
        }
        let body: ByteStream = Box::pin(response.bytes_stream().map_err(|e| std::io::Error::other(e.without_url())));
        return files.put(run, Area::Inputs, name, body, limit).await.map_err(|error| match error {
            FileError::TooLarge { limit } => format!("the file is larger than the limit of {limit} bytes"),
            FileError::Incomplete(detail) => format!("the download broke off: {detail}"),
            other => format!("storing the file failed: {other}"),
        });
    }
    Err(format!("more than {} redirects", config.max_redirects))
}
