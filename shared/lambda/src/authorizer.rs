//! The API Gateway TOKEN authorizer: resolves `Authorization: Bearer <token>` to a user through
//! the token store and allows the whole API for that user.

use cloudrun_core::api::authenticate;
use cloudrun_core::error::ApiError;
use cloudrun_core::ports::TokenStore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{error, info};

/// The event API Gateway sends to a TOKEN authorizer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenAuthorizerEvent {
    /// The `Authorization` header; it contains the token, so it is never logged.
    #[serde(default)]
    pub authorization_token: Option<String>,
    /// `arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<method>/<path>`.
    pub method_arn: String,
}

/// The IAM policy and context an authorizer returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    pub principal_id: String,
    pub policy_document: serde_json::Value,
    /// Passed to the functions as `requestContext.authorizer.user`.
    pub context: serde_json::Value,
}

/// The message API Gateway turns into a 401 response.
pub const UNAUTHORIZED: &str = "Unauthorized";

/// Allows every method of the API stage, so that API Gateway can cache one decision per token.
fn stage_wildcard(method_arn: &str) -> String {
    let mut segments = method_arn.splitn(3, '/');
    match (segments.next(), segments.next()) {
        (Some(api), Some(stage)) => format!("{api}/{stage}/*"),
        _ => method_arn.to_string(),
    }
}

/// Authorizes one request; an unknown token fails with `Unauthorized`, a store failure with a generic error.
pub async fn authorize(tokens: &dyn TokenStore, event: TokenAuthorizerEvent) -> Result<AuthorizerResponse, lambda_runtime::Error> {
    match authenticate(tokens, event.authorization_token.as_deref()).await {
        Ok(caller) => {
            info!(user = %caller.user, "token accepted");
            Ok(AuthorizerResponse {
                principal_id: caller.user.clone(),
                policy_document: json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow",
                        "Resource": stage_wildcard(&event.method_arn),
                    }],
                }),
                context: json!({ "user": caller.user }),
            })
        }
        Err(ApiError::Internal(detail)) => {
            error!(error = %detail, "token lookup failed");
            Err("internal error while checking the token".into())
        }
        Err(rejection) => {
            info!(reason = %rejection, "token rejected");
            Err(UNAUTHORIZED.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_covers_the_stage() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/v1/wrf/0123";
        assert_eq!(stage_wildcard(arn), "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*");
    }
}
