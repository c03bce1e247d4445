//! Endpoint logic, written once over the ports and used by the local server
//! and by the Lambda functions alike.

pub mod fields;
pub mod jobs;
pub mod runs;
pub mod uploads;

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::ApiError;
use crate::ports::{FileStore, RunStore, Scheduler, StoreError, TokenStore, UrlFetcher};
use crate::run::{Id, Run};

/// The adapters one deployment plugs in.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub runs: Arc<dyn RunStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub files: Arc<dyn FileStore>,
    pub scheduler: Arc<dyn Scheduler>,
    pub fetcher: Arc<dyn UrlFetcher>,
}

/// The authenticated user a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
}

/// SHA-256 of a token, hex-encoded: the only form in which tokens are stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Resolves the `Authorization` header to a user.
pub async fn authenticate(tokens: &dyn TokenStore, header: Option<&str>) -> Result<Caller, ApiError> {
    let Some(header) = header else {
        return Err(ApiError::Unauthorized(
            "missing Authorization header; send `Authorization: Bearer <token>`".into(),
        ));
    };
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header must read `Bearer <token>`".into()))?;
    match tokens.user_for_token_hash(&hash_token(token)).await? {
        Some(user) => Ok(Caller { user }),
        None => Err(ApiError::Unauthorized(
            "invalid or revoked token; check the token, or ask the service's administrator for a new one".into(),
        )),
    }
}

/// Parses a run id from a path; anything malformed is simply not found.
pub fn parse_id(text: &str) -> Result<Id, ApiError> {
    text.parse().map_err(|_| ApiError::run_not_found(text))
}

/// Loads a run the caller owns; another user's run is reported exactly as a missing one.
pub async fn load_owned(runs: &dyn RunStore, caller: &Caller, id: &Id) -> Result<Run, ApiError> {
    match runs.get(id).await? {
        Some(run) if run.owner == caller.user => Ok(run),
        _ => Err(ApiError::run_not_found(id.as_str())),
    }
}

/// Applies `change` to the stored run and writes it, retrying when another
/// writer got there first. `change` receives the freshest record each time.
pub async fn modify_run<F>(runs: &dyn RunStore, id: &Id, owner: Option<&str>, mut change: F) -> Result<Run, ApiError>
where
    F: FnMut(&mut Run) -> Result<(), ApiError>,
{
    for _ in 0..20 {
        let mut run = match runs.get(id).await? {
            Some(run) if owner.is_none_or(|o| o == run.owner) => run,
            _ => return Err(ApiError::run_not_found(id.as_str())),
        };
        change(&mut run)?;
        match runs.update(&run).await {
            Ok(stored) => return Ok(stored),
            Err(StoreError::Conflict) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Internal(format!("run {id}: gave up after 20 conflicting writes")))
}
