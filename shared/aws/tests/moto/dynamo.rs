//! The DynamoDB run and token store.

use std::sync::Arc;

use cloudrun_core::api::hash_token;
use cloudrun_core::ports::{RunStore, StoreError, TokenStore};
use cloudrun_core::run::{Id, Run, Status};

use crate::helpers::deployment;

#[tokio::test]
async fn run_round_trips() {
    let (deployment, _) = deployment().await;
    let store = &deployment.store;
    let run = Run::new("alice", "4.7.1");
    store.insert(&run).await.expect("insert");
    assert_eq!(store.get(&run.id).await.expect("get"), Some(run.clone()));
    assert_eq!(store.get(&Id::new_random()).await.expect("get missing"), None);
    assert!(matches!(store.insert(&run).await, Err(StoreError::Conflict)), "a second insert of one id");
}

#[tokio::test]
async fn update_rejects_stale_revision() {
    let (deployment, _) = deployment().await;
    let store = &deployment.store;
    let run = Run::new("alice", "4.7.1");
    store.insert(&run).await.expect("insert");

    let mut first = run.clone();
    first.status = Status::Ready;
    let stored = store.update(&first).await.expect("first writer wins");
    assert_eq!(stored.revision, 1);
    let mut stale = run.clone();
    stale.status = Status::Error;
    assert!(matches!(store.update(&stale).await, Err(StoreError::Conflict)));
    let read = store.get(&run.id).await.expect("get").expect("present");
    assert_eq!(read.status, Status::Ready);
    assert_eq!(read.revision, 1);
    let missing = Run::new("alice", "4.7.1");
    assert!(matches!(store.update(&missing).await, Err(StoreError::Conflict)), "update of a run never inserted");
}

#[tokio::test]
async fn concurrent_updates_have_one_winner() {
    let (deployment, _) = deployment().await;
    let store = Arc::new(deployment.store.clone());
    let run = Run::new("alice", "4.7.1");
    store.insert(&run).await.expect("insert");
    let writers = (0..10).map(|i| {
        let (store, mut copy) = (store.clone(), run.clone());
        copy.cores = Some(i);
        tokio::spawn(async move { store.update(&copy).await })
    });
    let results = futures::future::join_all(writers).await;
    let winners = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let conflicts = results.iter().filter(|r| matches!(r, Ok(Err(StoreError::Conflict)))).count();
    assert_eq!(winners, 1);
    assert_eq!(conflicts, 9);
}

#[tokio::test]
async fn list_is_per_owner_newest_first() {
    let (deployment, _) = deployment().await;
    let store = &deployment.store;
    let runs: Vec<Run> = (0..3).map(|_| Run::new("alice", "4.7.1")).collect();
    for run in &runs {
        store.insert(run).await.expect("insert");
    }
    store.insert(&Run::new("bob", "4.7.1")).await.expect("insert bob");
    let mut updated = runs[0].clone();
    updated.status = Status::Ready;
    store.update(&updated).await.expect("update keeps the creation order");

    let listed: Vec<Id> = store.list_by_owner("alice").await.expect("list").into_iter().map(|r| r.id).collect();
    let expected: Vec<Id> = runs.iter().rev().map(|r| r.id.clone()).collect();
    assert_eq!(listed, expected);
    assert_eq!(store.list_by_owner("carol").await.expect("list").len(), 0);
}

#[tokio::test]
async fn list_running_filters_status() {
    let (deployment, _) = deployment().await;
    let store = &deployment.store;
    let mut ids = Vec::new();
    for status in [Status::Ready, Status::Starting, Status::Active, Status::Done] {
        let mut run = Run::new("alice", "4.7.1");
        store.insert(&run).await.expect("insert");
        run.status = status;
        store.update(&run).await.expect("update");
        if status.is_running() {
            ids.push(run.id.clone());
        }
    }
    store.create_token("alice").await.expect("a token item is not a run");
    let mut running: Vec<Id> = store.list_running().await.expect("list").into_iter().map(|r| r.id).collect();
    running.sort();
    ids.sort();
    assert_eq!(running, ids);
}

#[tokio::test]
async fn tokens_are_stored_hashed() {
    let (deployment, clients) = deployment().await;
    let store = &deployment.store;
    let token = store.create_token("alice").await.expect("create");
    assert_eq!(store.user_for_token_hash(&hash_token(&token)).await.expect("lookup"), Some("alice".into()));
    assert_eq!(store.user_for_token_hash(&hash_token("guess")).await.expect("lookup"), None);

    let scan = clients.dynamodb.scan().table_name(&deployment.settings.table).send().await.expect("scan");
    let dump = format!("{:?}", scan.items());
    assert!(dump.contains(&hash_token(&token)), "the item is keyed by the hash");
    assert!(!dump.contains(&token), "the token itself is stored");

    store.revoke_token(&token).await.expect("revoke");
    assert_eq!(store.user_for_token_hash(&hash_token(&token)).await.expect("lookup"), None);
}
