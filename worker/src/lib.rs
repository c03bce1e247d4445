//! The program every node of a cloudrun job runs. The main node stages the
//! run's inputs, gathers the other nodes, runs WRF under MPI (or the dry-run
//! engine), reports progress and outputs while it runs, and records the end.
//! Child nodes announce themselves and serve MPI ranks until the run is over.
//! The local runner uses the same code as a job of one node.

pub mod engine;
pub mod files;
pub mod follow;
pub mod job;
pub mod netcdf;
pub mod node;
pub mod rendezvous;
