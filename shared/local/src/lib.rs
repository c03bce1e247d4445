//! cloudrun on one machine: SQLite for runs and tokens, a data directory for
//! files, a local MPI runner, and the HTTP server that serves every endpoint.

pub mod app;
pub mod demo;
pub mod fetch;
pub mod files;
pub mod runner;
pub mod server;
pub mod store;
pub mod worker;
