//! Errors of the endpoint logic and their HTTP form.

use serde_json::json;

use crate::ports::{FileError, StoreError};

/// An endpoint failure: 4xx variants carry the message users see; `Internal` only logs.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A backend failure; the detail goes to the log, the user sees a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::Internal(_) => 500,
        }
    }

    /// Returns the response body `{"error": {"status": ..., "message": ...}}`.
    pub fn body(&self) -> serde_json::Value {
        let message = match self {
            ApiError::Internal(_) => "internal server error; the details are in the server log".to_string(),
            other => other.to_string(),
        };
        json!({ "error": { "status": self.status(), "message": message } })
    }

    pub fn run_not_found(id: &str) -> ApiError {
        ApiError::NotFound(format!("run `{id}` not found"))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::Internal(format!("run store: {error}"))
    }
}

impl From<FileError> for ApiError {
    fn from(error: FileError) -> Self {
        match error {
            FileError::NotFound => ApiError::NotFound("file not found".into()),
            FileError::TooLarge { limit } => {
                ApiError::PayloadTooLarge(format!("the file is larger than the limit of {limit} bytes"))
            }
            FileError::Incomplete(detail) => {
                ApiError::BadRequest(format!("the upload did not arrive whole ({detail}); send the file again"))
            }
            FileError::Backend(detail) => ApiError::Internal(format!("file store: {detail}")),
        }
    }
}
