//! Integration tests over real HTTP against `cloudrun serve`, one server and
//! data directory per test.

mod helpers;
mod lifecycle;
mod multinode;
mod runs;
mod uploads;
