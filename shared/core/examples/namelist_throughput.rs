//! Times parsing, WRF metadata and compute options for every namelist given
//! on the command line, repeated `CLOUDRUN_BENCH_ROUNDS` times (default 200).
//! Prints one line per file: `<microseconds per file> <name>`, then the total.

use std::time::Instant;

use cloudrun_core::compute::compute_options;
use cloudrun_core::config::Config;
use cloudrun_core::namelist;
use cloudrun_core::wrf::WrfCase;

fn main() {
    let rounds: u32 = std::env::var("CLOUDRUN_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(200);
    let config = Config::default();
    let files: Vec<(String, String)> = std::env::args()
        .skip(1)
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            (path, text)
        })
        .collect();

    let mut total = 0.0;
    for (path, text) in &files {
        let started = Instant::now();
        let mut options = 0;
        for _ in 0..rounds {
            let parsed = namelist::parse(text).expect("namelist parses");
            let case = WrfCase::from_namelist(&parsed, "4.7.1").expect("case is valid");
            options += compute_options(&case, &config.compute, &config.estimate).len();
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
        total += micros;
        let name = std::path::Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!("{micros:10.1} {name} ({} options)", options / rounds as usize);
    }
    println!("{total:10.1} total microseconds for {} files", files.len());
}
