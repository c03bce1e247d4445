//! Compute options: which core counts WRF can decompose, how long each takes, what it costs.

use serde::{Deserialize, Serialize};

use crate::config::{ComputeConfig, EstimateConfig};
use crate::wrf::WrfCase;

/// One entry of a run's `compute_options`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeOption {
    pub cores: i64,
    /// Estimated compute cost in USD, rounded to cents.
    pub cost: f64,
    /// Estimated wall time in whole seconds.
    pub time: i64,
}

/// WRF's smallest patch: each MPI rank needs at least this many points per side.
const MIN_PATCH_POINTS: i64 = 10;

/// Splits `ranks` into `(nproc_x, nproc_y)` as WRF does by default: the factor
/// pair closest to square, with `nproc_x <= nproc_y`.
pub fn default_split(ranks: i64) -> (i64, i64) {
    let mut best = (1, ranks);
    let mut x = 1;
    while x * x <= ranks {
        if ranks % x == 0 {
            best = (x, ranks / x);
        }
        x += 1;
    }
    best
}

/// Returns the split WRF would use for `ranks` MPI tasks, or why the case cannot run on them.
pub fn decomposition(case: &WrfCase, ranks: i64) -> Result<(i64, i64), String> {
    let compute_ranks = ranks - case.io_ranks;
    if compute_ranks < 1 {
        return Err(format!("{ranks} cores leave no compute ranks after {} I/O ranks", case.io_ranks));
    }
    let (nproc_x, nproc_y) = match (case.nproc_x, case.nproc_y) {
        (x, y) if x > 0 && y > 0 => (x, y),
        (x, _) if x > 0 => (x, compute_ranks / x),
        (_, y) if y > 0 => (compute_ranks / y, y),
        _ => default_split(compute_ranks),
    };
    if nproc_x * nproc_y != compute_ranks {
        return Err(format!(
            "the namelist fixes nproc_x = {}, nproc_y = {}, which does not multiply to {compute_ranks} ranks",
            case.nproc_x, case.nproc_y
        ));
    }
    for domain in &case.domains {
        if domain.e_we / nproc_x < MIN_PATCH_POINTS || domain.e_sn / nproc_y < MIN_PATCH_POINTS {
            return Err(format!(
                "{ranks} cores split {nproc_x} x {nproc_y} leave patches under {MIN_PATCH_POINTS} points on \
                 domain {} (e_we {}, e_sn {})",
                domain.id, domain.e_we, domain.e_sn
            ));
        }
    }
    Ok((nproc_x, nproc_y))
}

/// Returns the core counts offered, before the decomposition check.
pub fn core_ladder(config: &ComputeConfig) -> Vec<i64> {
    let max_cores = config.max_nodes * config.cores_per_node;
    let mut ladder: Vec<i64> = if config.core_ladder.is_empty() {
        let powers = std::iter::successors(Some(1i64), |c| Some(c * 2)).take_while(|c| *c <= max_cores);
        let full_nodes = (1..=config.max_nodes).map(|n| n * config.cores_per_node);
        powers.chain(full_nodes).collect()
    } else {
        config.core_ladder.iter().copied().filter(|c| (1..=max_cores).contains(c)).collect()
    };
    ladder.sort_unstable();
    ladder.dedup();
    ladder
}

/// Estimated wall time in seconds on `cores` ranks (Amdahl's law over the case's work).
pub fn estimate_seconds(case: &WrfCase, cores: i64, estimate: &EstimateConfig) -> f64 {
    let point_steps: f64 = case.domains.iter().map(|d| d.mass_points() as f64 * d.steps()).sum();
    let compute = point_steps * estimate.seconds_per_point_step;
    let serial = estimate.serial_fraction;
    let output: f64 = case
        .domains
        .iter()
        .map(|d| d.history_times().len() as f64 * d.mass_points() as f64 / 1e6)
        .sum::<f64>()
        * estimate.output_seconds_per_million_points;
    estimate.init_seconds + output + compute * (serial + (1.0 - serial) / cores as f64)
}

/// Cost in USD of `seconds` on `cores`, billed per whole instance, rounded to cents.
pub fn estimate_cost(cores: i64, seconds: f64, config: &ComputeConfig) -> f64 {
    let nodes = (cores + config.cores_per_node - 1) / config.cores_per_node;
    let granularity = config.billing_granularity_seconds.max(1) as f64;
    let billed = ((seconds + config.startup_seconds) / granularity).ceil() * granularity;
    let billed = billed.max(config.minimum_billed_seconds as f64);
    let dollars = nodes as f64 * config.usd_per_hour * billed / 3600.0;
    (dollars * 100.0).round() / 100.0
}

/// Core counts to consider: the ladder, or the one count a namelist fixes with `nproc_x` and `nproc_y`.
fn candidate_cores(case: &WrfCase, compute: &ComputeConfig) -> Vec<i64> {
    if case.nproc_x > 0 && case.nproc_y > 0 {
        let fixed = case.nproc_x * case.nproc_y + case.io_ranks;
        return if fixed <= compute.max_nodes * compute.cores_per_node { vec![fixed] } else { Vec::new() };
    }
    core_ladder(compute)
}

/// Returns every candidate core count that WRF can decompose, with its time and cost.
pub fn compute_options(case: &WrfCase, compute: &ComputeConfig, estimate: &EstimateConfig) -> Vec<ComputeOption> {
    candidate_cores(case, compute)
        .into_iter()
        .filter(|cores| decomposition(case, *cores).is_ok())
        .map(|cores| {
            let seconds = estimate_seconds(case, cores, estimate);
            ComputeOption { cores, cost: estimate_cost(cores, seconds, compute), time: seconds.round() as i64 }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::namelist;

    fn case_from(text: &str) -> WrfCase {
        let parsed = namelist::parse(text).expect("namelist parses");
        WrfCase::from_namelist(&parsed, "4.7.1").expect("case is valid")
    }

    /// The API reference's example: one 320 x 240 x 30 domain, dt 60 s, 24 h, hourly output.
    const REFERENCE_EXAMPLE: &str = "&time_control
 run_hours = 24, start_year = 2016, start_month = 12, start_day = 25, start_hour = 0,
 history_interval = 60 /
&domains
 time_step = 60, max_dom = 1, e_we = 320, e_sn = 240, e_vert = 30, dx = 12000, dy = 12000 /
&bdy_control specified = .true. /";

    #[test]
    fn default_split_matches_wrf() {
        for (ranks, split) in [(1, (1, 1)), (8, (2, 4)), (32, (4, 8)), (36, (6, 6)), (160, (10, 16)), (176, (11, 16)), (200, (10, 20)), (7, (1, 7))] {
            assert_eq!(default_split(ranks), split, "ranks {ranks}");
        }
    }

    #[test]
    fn reference_example_times_within_two_percent() {
        let config = Config::default();
        let case = case_from(REFERENCE_EXAMPLE);
        let documented = [(1, 12203.0), (2, 6560.0), (4, 3738.0), (8, 2327.0), (16, 1621.0), (32, 1268.0)];
        for (cores, seconds) in documented {
            let estimate = estimate_seconds(&case, cores, &config.estimate);
            let error = (estimate - seconds).abs() / seconds;
            assert!(error < 0.02, "{cores} cores: estimate {estimate:.0} s vs documented {seconds} s");
        }
    }

    #[test]
    fn reference_example_offers_its_core_counts() {
        let config = Config::default();
        let options = compute_options(&case_from(REFERENCE_EXAMPLE), &config.compute, &config.estimate);
        let cores: Vec<i64> = options.iter().map(|o| o.cores).collect();
        for expected in [1, 2, 4, 8, 16, 32] {
            assert!(cores.contains(&expected), "{expected} missing from {cores:?}");
        }
        let times: Vec<i64> = options.iter().map(|o| o.time).collect();
        assert!(times.windows(2).all(|w| w[1] <= w[0]), "times must fall with more cores: {times:?}");
    }

    #[test]
    fn quarter_ss_rejects_32_cores() {
        let case = case_from("&time_control run_minutes = 60 / &domains time_step = 12, e_we = 42, e_sn = 42, e_vert = 41 /");
        assert!(decomposition(&case, 2).is_ok());
        let error = decomposition(&case, 32).expect_err("4 x 8 leaves 5 points in y");
        assert!(error.contains("4 x 8"), "{error}");
    }

    #[test]
    fn smallest_domain_limits_ranks() {
        let case = case_from(
            "&time_control run_hours = 1, start_year = 2018, 2018, end_year = 2018, 2018 / &domains time_step = 90, max_dom = 2, \
             e_we = 117, 99, e_sn = 85, 79, e_vert = 32, 32, parent_id = 1, 1, parent_grid_ratio = 1, 3, parent_time_step_ratio = 1, 3 /",
        );
        assert!(decomposition(&case, 28).is_ok());
        assert!(decomposition(&case, 32).is_err(), "d02 e_sn 79 / 8 = 9 points");
    }

    #[test]
    fn fixed_nproc_allows_only_its_product() {
        let case = case_from("&time_control run_hours = 1 / &domains time_step = 20, e_we = 1800, e_sn = 1060, nproc_x = 14, nproc_y = 72 /");
        assert!(decomposition(&case, 1008).is_ok());
        assert!(decomposition(&case, 1024).is_err());
    }

    #[test]
    fn fixed_nproc_offers_its_product_only() {
        let mut config = Config::default();
        let case = case_from("&time_control run_hours = 1 / &domains time_step = 20, e_we = 400, e_sn = 400, nproc_x = 4, nproc_y = 6 /");
        let cores: Vec<i64> = compute_options(&case, &config.compute, &config.estimate).iter().map(|o| o.cores).collect();
        assert_eq!(cores, vec![24]);
        config.compute.max_nodes = 0;
        assert!(compute_options(&case, &config.compute, &config.estimate).is_empty());
    }

    #[test]
    fn cost_bills_whole_nodes_in_cents() {
        let mut compute = Config::default().compute;
        compute.cores_per_node = 36;
        compute.usd_per_hour = 3.6;
        compute.billing_granularity_seconds = 60;
        compute.minimum_billed_seconds = 60;
        compute.startup_seconds = 0.0;
        assert_eq!(estimate_cost(1, 3600.0, &compute), 3.6);
        assert_eq!(estimate_cost(72, 3600.0, &compute), 7.2);
        assert_eq!(estimate_cost(37, 61.0, &compute), 0.24);
        assert_eq!(estimate_cost(1, 1.0, &compute), 0.06);
    }

    #[test]
    fn ladder_adds_full_nodes() {
        let mut compute = Config::default().compute;
        compute.cores_per_node = 36;
        compute.max_nodes = 2;
        compute.core_ladder = Vec::new();
        assert_eq!(core_ladder(&compute), vec![1, 2, 4, 8, 16, 32, 36, 64, 72]);
    }
}
