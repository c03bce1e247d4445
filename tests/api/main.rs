//! Integration tests over real HTTP against `cloudrun serve`, one server and
//! data directory per test.

mod helpers;
mod lifecycle;
mod multinode;
#[path = "../support/mpi_build.rs"]
mod mpi_build;
mod runs;
mod uploads;
