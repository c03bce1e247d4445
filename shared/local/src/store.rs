//! SQLite adapters for the run store and the token store (WAL mode, one file).

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cloudrun_core::api::hash_token;
use cloudrun_core::ports::{RunStore, StoreError, TokenStore};
use cloudrun_core::run::{Id, Run};
use cloudrun_core::time::WrfTime;
use rusqlite::{params, Connection, OptionalExtension};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    revision INTEGER NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_owner ON runs (owner);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    created TEXT NOT NULL
);
";

/// Runs and tokens in one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let connection = Connection::open(path).map_err(StoreError::backend)?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;")
            .map_err(StoreError::backend)?;
        connection.execute_batch(SCHEMA).map_err(StoreError::backend)?;
        Ok(SqliteStore { connection: Arc::new(Mutex::new(connection)) })
    }

    /// Runs `work` on the connection in a blocking thread.
    async fn with<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let guard = connection.lock().map_err(|_| StoreError::Backend("SQLite connection poisoned".into()))?;
            work(&guard)
        })
        .await
        .map_err(StoreError::backend)?
    }

    /// Stores a new token for `user` and returns it; only its hash is kept.
    pub async fn create_token(&self, user: &str) -> Result<String, StoreError> {
        let token = format!("crt_{}", hex::encode(rand::random::<[u8; 24]>()));
        let hash = hash_token(&token);
        let user = user.to_string();
        self.with(move |c| {
            c.execute(
                "INSERT INTO tokens (hash, user, created) VALUES (?1, ?2, ?3)",
                params![hash, user, WrfTime::now().to_string()],
            )
            .map_err(StoreError::backend)
        })
        .await?;
        Ok(token)
    }

    /// Removes one token; returns whether it existed.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        let hash = hash_token(token);
        let removed = self
            .with(move |c| c.execute("DELETE FROM tokens WHERE hash = ?1", params![hash]).map_err(StoreError::backend))
            .await?;
        Ok(removed > 0)
    }

    /// Removes every token of `user`; returns how many there were.
    pub async fn revoke_user(&self, user: &str) -> Result<usize, StoreError> {
        let user = user.to_string();
        self.with(move |c| c.execute("DELETE FROM tokens WHERE user = ?1", params![user]).map_err(StoreError::backend))
            .await
    }
}

fn decode(document: String) -> Result<Run, StoreError> {
    serde_json::from_str(&document).map_err(|e| StoreError::Backend(format!("corrupt run record: {e}")))
}

fn encode(run: &Run) -> Result<String, StoreError> {
    serde_json::to_string(run).map_err(StoreError::backend)
}

fn query_runs(c: &Connection, sql: &str, parameter: &str) -> Result<Vec<Run>, StoreError> {
    let mut statement = c.prepare_cached(sql).map_err(StoreError::backend)?;
    let documents = statement
        .query_map(params![parameter], |row| row.get::<_, String>(0))
        .map_err(StoreError::backend)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(StoreError::backend)?;
    documents.into_iter().map(decode).collect()
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn insert(&self, run: &Run) -> Result<(), StoreError> {
        let (id, owner, status, revision) = (run.id.to_string(), run.owner.clone(), run.status.to_string(), run.revision);
        let document = encode(run)?;
        self.with(move |c| {
            c.execute(
                "INSERT INTO runs (id, owner, status, revision, document) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, owner, status, revision as i64, document],
            )
            .map(|_| ())
            .map_err(StoreError::backend)
        })
        .await
    }

    async fn get(&self, id: &Id) -> Result<Option<Run>, StoreError> {
        let id = id.to_string();
        let document = self
            .with(move |c| {
                c.prepare_cached("SELECT document FROM runs WHERE id = ?1")
                    .and_then(|mut s| s.query_row(params![id], |row| row.get::<_, String>(0)).optional())
                    .map_err(StoreError::backend)
            })
            .await?;
        document.map(decode).transpose()
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Vec<Run>, StoreError> {
        let owner = owner.to_string();
        // rowid grows with every insert, so it orders runs created within the same second.
        self.with(move |c| query_runs(c, "SELECT document FROM runs WHERE owner = ?1 ORDER BY rowid DESC", &owner))
            .await
    }

    async fn list_running(&self) -> Result<Vec<Run>, StoreError> {
        self.with(|c| {
            query_runs(c, "SELECT document FROM runs WHERE status IN ('starting', 'active') AND ?1 = ?1", "")
        })
        .await
    }

    async fn update(&self, run: &Run) -> Result<Run, StoreError> {
        let mut stored = run.clone();
        stored.revision += 1;
        let document = encode(&stored)?;
        let (id, status, expected, next) =
            (run.id.to_string(), stored.status.to_string(), run.revision as i64, stored.revision as i64);
        let changed = self
            .with(move |c| {
                c.execute(
                    "UPDATE runs SET document = ?1, status = ?2, revision = ?3 WHERE id = ?4 AND revision = ?5",
                    params![document, status, next, id, expected],
                )
                .map_err(StoreError::backend)
            })
            .await?;
        if changed == 1 {
            Ok(stored)
        } else {
            Err(StoreError::Conflict)
        }
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn user_for_token_hash(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let hash = hash.to_string();
        self.with(move |c| {
            c.prepare_cached("SELECT user FROM tokens WHERE hash = ?1")
                .and_then(|mut s| s.query_row(params![hash], |row| row.get::<_, String>(0)).optional())
                .map_err(StoreError::backend)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudrun_core::run::Status;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("runs.sqlite")).expect("opens");
        (dir, store)
    }

    #[tokio::test]
    async fn update_rejects_stale_revision() {
        let (_dir, store) = store();
        let run = Run::new("alice", "4.7.1");
        store.insert(&run).await.expect("insert");
        let mut first = run.clone();
        first.status = Status::Ready;
        let stored = store.update(&first).await.expect("first writer wins");
        assert_eq!(stored.revision, 1);
        let mut second = run.clone();
        second.status = Status::Error;
        assert!(matches!(store.update(&second).await, Err(StoreError::Conflict)));
        let read = store.get(&run.id).await.expect("get").expect("present");
        assert_eq!(read.status, Status::Ready);
    }

    #[tokio::test]
    async fn list_is_per_owner_newest_first() {
        let (_dir, store) = store();
        let older = Run::new("alice", "4.7.1");
        let newer = Run::new("alice", "4.7.1");
        let other = Run::new("bob", "4.7.1");
        for run in [&older, &newer, &other] {
            store.insert(run).await.expect("insert");
        }
        let ids: Vec<Id> = store.list_by_owner("alice").await.expect("list").into_iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![newer.id, older.id]);
    }

    #[tokio::test]
    async fn tokens_are_stored_hashed() {
        let (dir, store) = store();
        let token = store.create_token("alice").await.expect("create");
        assert_eq!(store.user_for_token_hash(&hash_token(&token)).await.expect("lookup"), Some("alice".into()));
        let raw = std::fs::read(dir.path().join("runs.sqlite")).expect("database file");
        let wal = std::fs::read(dir.path().join("runs.sqlite-wal")).unwrap_or_default();
        let needle = token.as_bytes();
        assert!(!raw.windows(needle.len()).any(|w| w == needle), "token in plain text in the database");
        assert!(!wal.windows(needle.len()).any(|w| w == needle), "token in plain text in the WAL");
        assert!(store.revoke_token(&token).await.expect("revoke"));
        assert_eq!(store.user_for_token_hash(&hash_token(&token)).await.expect("lookup"), None);
    }
}
