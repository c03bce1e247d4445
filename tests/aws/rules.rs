//! The authorizer and ownership: unknown tokens are rejected and another user's run is not found.

use serde_json::json;

use crate::helpers::{Payload, Route, Stack};

#[tokio::test]
async fn authorizer_rejects_unknown_token() {
    let stack = Stack::new().await;
    let context = stack.authorize(&stack.token).await.expect("alice's token");
    assert_eq!(context["user"], "alice");
    assert_eq!(context["principalId"], "alice");
    assert_eq!(stack.authorize("0123456789abcdef").await.expect_err("unknown"), "Unauthorized");
    stack.deployment.store.revoke_token(&stack.token).await.expect("revoke");
    assert_eq!(stack.authorize(&stack.token).await.expect_err("revoked"), "Unauthorized");
}

#[tokio::test]
async fn missing_authorizer_context_is_401() {
    let stack = Stack::new().await;
    let reply = stack.call_with(Route::List, "", Payload::Empty, None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["error"]["status"], 401);
}

#[tokio::test]
async fn other_users_run_not_found() {
    let stack = Stack::new().await;
    let id = stack.call(Route::Create, "", Payload::Empty).await.body["id"].as_str().expect("id").to_string();
    let bob = stack.deployment.store.create_token("bob").await.expect("token");
    let context = stack.authorize(&bob).await.expect("bob's token");
    for route in [Route::Get, Route::Start, Route::Stop, Route::Delete] {
        let reply = stack.call_with(route.clone(), &id, Payload::Empty, Some(context.clone())).await;
        assert_eq!(reply.status, 404, "{route:?}: {:?}", reply.body);
        assert_eq!(reply.body["error"]["message"], json!(format!("run `{id}` not found")));
    }
    let listed = stack.call_with(Route::List, "", Payload::Empty, Some(context)).await;
    assert_eq!(listed.body, json!([]));
}

#[tokio::test]
async fn bad_requests_get_clear_4xx() {
    let stack = Stack::new().await;
    let reply = stack.call(Route::Create, "", Payload::Form("version=2.0".into())).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body["error"]["message"].as_str().unwrap_or_default().contains("2.0"), "{:?}", reply.body);
    let id = stack.call(Route::Create, "", Payload::Empty).await.body["id"].as_str().expect("id").to_string();
    let broken = crate::helpers::file_part("namelist.input", b"&time_control\n run_days = x\n/\n".to_vec());
    let reply = stack.call(Route::Upload, &id, broken).await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert_eq!(stack.call(Route::Get, &id, Payload::Empty).await.body["status"], "created", "the run keeps its status");
    let reply = stack.call(Route::Upload, &id, Payload::Json(json!({"filename": "wrfbdy_d01", "size": "many"}))).await;
    assert_eq!(reply.status, 400);
    let reply = stack.call(Route::Upload, &id, Payload::Json(json!({"filename": "../wrfbdy_d01", "size": 10}))).await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn oversized_direct_upload_is_413() {
    let stack = Stack::new().await;
    let id = stack.call(Route::Create, "", Payload::Empty).await.body["id"].as_str().expect("id").to_string();
    let reply = stack.call(Route::Upload, &id, crate::helpers::file_part("wrfbdy_d01", vec![7; 5 * 1024 * 1024])).await;
    assert_eq!(reply.status, 413, "{:?}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("presigned upload"), "{message}");
}
