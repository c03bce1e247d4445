//! A node's place in a multi-node job, from AWS Batch's environment.

/// Role of this node in the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Node that waits for the others, runs mpirun and reports the run.
    Main { nodes: usize },
    /// Node that announces itself to the main node and serves MPI ranks until the main node releases it.
    Child { index: usize, main_address: String },
}

/// Reads the role from `AWS_BATCH_JOB_NODE_INDEX`, `AWS_BATCH_JOB_MAIN_NODE_INDEX`,
/// `AWS_BATCH_JOB_NUM_NODES` and `AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS`.
/// Without them (a single-node job, or the local runner) the node is the main node of one.
pub fn role_from_env(lookup: &impl Fn(&str) -> Option<String>) -> Result<(Role, usize), String> {
    let number = |name: &str| -> Result<Option<usize>, String> {
        match lookup(name) {
            None => Ok(None),
            Some(text) => text.trim().parse().map(Some).map_err(|_| format!("{name} must be a whole number, got `{text}`")),
        }
    };
    let Some(index) = number("AWS_BATCH_JOB_NODE_INDEX")? else {
        return Ok((Role::Main { nodes: 1 }, 0));
    };
    let main = number("AWS_BATCH_JOB_MAIN_NODE_INDEX")?.unwrap_or(0);
    let nodes = number("AWS_BATCH_JOB_NUM_NODES")?.unwrap_or(1).max(1);
    if index == main {
        return Ok((Role::Main { nodes }, index));
    }
    let main_address = lookup("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS")
        .filter(|a| !a.trim().is_empty())
        .ok_or("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS is missing on a child node")?;
    Ok((Role::Child { index, main_address }, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn single_node_without_batch_variables() {
        assert_eq!(role_from_env(&env(&[])).expect("valid"), (Role::Main { nodes: 1 }, 0));
    }

    #[test]
    fn main_and_child_roles() {
        let vars = [
            ("AWS_BATCH_JOB_NODE_INDEX", "0"),
            ("AWS_BATCH_JOB_MAIN_NODE_INDEX", "0"),
            ("AWS_BATCH_JOB_NUM_NODES", "3"),
        ];
        assert_eq!(role_from_env(&env(&vars)).expect("valid"), (Role::Main { nodes: 3 }, 0));
        let vars = [
            ("AWS_BATCH_JOB_NODE_INDEX", "2"),
            ("AWS_BATCH_JOB_MAIN_NODE_INDEX", "0"),
            ("AWS_BATCH_JOB_NUM_NODES", "3"),
            ("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS", "10.0.0.5"),
        ];
        let role = role_from_env(&env(&vars)).expect("valid");
        assert_eq!(role, (Role::Child { index: 2, main_address: "10.0.0.5".into() }, 2));
    }

    #[test]
    fn child_without_main_address_fails() {
        let vars = [("AWS_BATCH_JOB_NODE_INDEX", "1"), ("AWS_BATCH_JOB_NUM_NODES", "2")];
        let error = role_from_env(&env(&vars)).expect_err("missing address");
        assert!(error.contains("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"), "{error}");
    }
}

/// Position of this node in the job and the addresses the nodes use to find each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEnv {
    pub role: Role,
    pub index: usize,
    /// This node's address as the other nodes reach it (`CLOUDRUN_NODE_ADDRESS`, else the host's first address).
    pub address: String,
    /// TCP port of the main node's rendezvous (`CLOUDRUN_RENDEZVOUS_PORT`, default 7077).
    pub rendezvous_port: u16,
}

/// Reads the node's settings from the environment (see `role_from_env`).
pub fn node_env(lookup: impl Fn(&str) -> Option<String>) -> Result<NodeEnv, String> {
    let (role, index) = role_from_env(&lookup)?;
    let rendezvous_port = match lookup("CLOUDRUN_RENDEZVOUS_PORT") {
        Some(text) => text.trim().parse().map_err(|_| format!("CLOUDRUN_RENDEZVOUS_PORT must be a port number, got `{text}`"))?,
        None => 7077,
    };
    let address = match (lookup("CLOUDRUN_NODE_ADDRESS").filter(|a| !a.is_empty()), &role) {
        (Some(address), _) => address,
        (None, Role::Main { nodes: 1 }) => "127.0.0.1".to_string(),
        (None, _) => host_address().ok_or("cannot tell this node's address; set CLOUDRUN_NODE_ADDRESS")?,
    };
    Ok(NodeEnv { role, index, address, rendezvous_port })
}

/// Returns the host's first address as `hostname -I` lists it.
fn host_address() -> Option<String> {
    let output = std::process::Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&output.stdout).split_whitespace().next().map(str::to_string)
}
