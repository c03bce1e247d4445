//! The TCP rendezvous of a multi-node job. Each child node announces its
//! address and slot count to the main node, which writes the MPI hostfile
//! and later releases every child when the run is over.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A child's announcement, one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub index: usize,
    pub address: String,
    pub slots: usize,
}

/// The main node's side: the children that announced themselves, with their open connections.
pub struct Gathered {
    pub nodes: BTreeMap<usize, Announcement>,
    connections: Vec<TcpStream>,
}

/// Waits until `expected` child nodes have announced themselves, or fails naming the missing ones.
pub async fn gather(listener: &TcpListener, expected: &[usize], timeout: Duration) -> Result<Gathered, String> {
    let mut gathered = Gathered { nodes: BTreeMap::new(), connections: Vec::new() };
    let deadline = tokio::time::Instant::now() + timeout;
    while gathered.nodes.len() < expected.len() {
        let accepted = tokio::time::timeout_at(deadline, listener.accept()).await;
        let Ok(Ok((stream, _))) = accepted else {
            let missing: Vec<String> = expected
                .iter()
                .filter(|i| !gathered.nodes.contains_key(i))
                .map(|i| i.to_string())
                .collect();
            return Err(format!(
                "node(s) {} did not announce themselves within {} s",
                missing.join(", "),
                timeout.as_secs()
            ));
        };
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await;
        let Ok(Ok(_)) = read else { continue };
        let Ok(announcement) = serde_json::from_str::<Announcement>(line.trim()) else { continue };
        if expected.contains(&announcement.index) {
            gathered.nodes.insert(announcement.index, announcement);
            gathered.connections.push(reader.into_inner());
        }
    }
    Ok(gathered)
}

impl Gathered {
    /// Tells every child that the run is over, so they can exit.
    pub async fn release(mut self) {
        for connection in &mut self.connections {
            let _ = connection.write_all(b"{\"done\":true}\n").await;
            let _ = connection.shutdown().await;
        }
    }
}

/// Announces this child node (retrying until `timeout`), then waits until the main node
/// releases it or closes the connection. Returns whether it was released.
pub async fn announce_and_wait(main: &str, announcement: &Announcement, timeout: Duration) -> Result<bool, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stream = loop {
        match TcpStream::connect(main).await {
            Ok(stream) => break stream,
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(%error, main, "main node not reachable yet");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => return Err(format!("cannot reach the main node at {main}: {error}")),
        }
    };
    let mut line = serde_json::to_string(announcement).map_err(|e| e.to_string())?;
    line.push('\n');
    stream.write_all(line.as_bytes()).await.map_err(|e| format!("announcing to {main} failed: {e}"))?;
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    let read = reader.read_line(&mut reply).await.unwrap_or(0);
    Ok(read > 0 && reply.contains("done"))
}

/// Writes an Open MPI hostfile: the main node first, then each child, `slots` ranks each.
pub fn hostfile(main: &Announcement, children: &BTreeMap<usize, Announcement>) -> String {
    std::iter::once(main)
        .chain(children.values())
        .map(|node| format!("{} slots={}\n", node.address, node.slots))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn children_announce_and_are_released() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let mut children = Vec::new();
        for index in [1, 2] {
            let address = address.clone();
            let announcement = Announcement { index, address: format!("127.0.0.{}", index + 1), slots: 2 };
            children.push(tokio::spawn(async move { announce_and_wait(&address, &announcement, Duration::from_secs(5)).await }));
        }
        let gathered = gather(&listener, &[1, 2], Duration::from_secs(5)).await.expect("both announce");
        let main = Announcement { index: 0, address: "127.0.0.1".into(), slots: 2 };
        assert_eq!(hostfile(&main, &gathered.nodes), "127.0.0.1 slots=2\n127.0.0.2 slots=2\n127.0.0.3 slots=2\n");
        gathered.release().await;
        for child in children {
            assert_eq!(child.await.expect("joins"), Ok(true));
        }
    }

    #[tokio::test]
    async fn missing_child_is_named() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let announcement = Announcement { index: 1, address: "127.0.0.2".into(), slots: 1 };
        let child = tokio::spawn(async move { announce_and_wait(&address, &announcement, Duration::from_secs(5)).await });
        let error = gather(&listener, &[1, 2, 3], Duration::from_millis(500)).await.err().expect("times out");
        assert!(error.contains("node(s) 2, 3 did not announce"), "{error}");
        child.abort();
    }

    #[tokio::test]
    async fn child_sees_main_node_gone() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let announcement = Announcement { index: 1, address: "127.0.0.2".into(), slots: 1 };
        let child = tokio::spawn(async move { announce_and_wait(&address, &announcement, Duration::from_secs(5)).await });
        let gathered = gather(&listener, &[1], Duration::from_secs(5)).await.expect("announces");
        drop(gathered);
        assert_eq!(child.await.expect("joins"), Ok(false), "a closed connection is not a release");
    }
}
