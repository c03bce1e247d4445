//! cloudrun's core: the run model, WRF namelist logic, compute options and
//! the endpoint handlers, written against ports so that the local server and
//! the AWS Lambda functions share them.

pub mod api;
pub mod compute;
pub mod config;
pub mod error;
pub mod namelist;
pub mod ports;
pub mod rsl;
pub mod run;
pub mod time;
pub mod transfer;
pub mod url_guard;
pub mod wrf;
