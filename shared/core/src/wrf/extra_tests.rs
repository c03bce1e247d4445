//! Checks further real namelists, which `wrf.rs` was not written against, with
//! values derived by hand from WRF's rules (tests/fixtures/namelists-extra,
//! sources in tests/fixtures/SOURCES.md).
//!
//! Input files cover what `WrfCase::input_files` covers: initial state
//! (wrfinput, wrfrst or the ideal.exe profile), wrfbdy, wrflowinp and wrffdda.
//! None of these files sets `iofields_filename` or another auxinput stream.

use super::*;
use crate::namelist;

/// Expected values per domain: mass grid [z, y, x], dt s, dx m, start, end, history minutes.
type DomainRow = (i64, i64, i64, f64, f64, &'static str, &'static str, i64);

struct Expected {
    file: &'static str,
    domains: &'static [DomainRow],
    inputs: &'static [&'static str],
}

const TABLE: &[Expected] = &[
    // max_dom=3 of 3 columns, parent_id(1)=1, so d01 is the root. run_hours=96 from
    // 04-22_00 gives 04-26_00 and beats end_day=27. The nests write end_day=27 too,
    // and min(own end, parent end) clips them to 04-26_00. No start_minute/second,
    // so both are 00. dt 60 -> 60/3=20 -> 20/3 s. dx 18000 -> 6000 -> 2000 m.
    // History 180, 60, 60 min. input_from_file is .true. for every domain and
    // specified=.true., so wrfinput_d01..d03 and wrfbdy_d01; sst_update is commented out.
    // UTF-8 (Korean) comments after values and on whole lines.
    Expected {
        file: "Matwayi7635_WRF_CMIP6_PGW_Cyclones_3dom-run_hours-korean-comments",
        domains: &[
            (32, 195, 225, 60.0, 18000.0, "2019-04-22_00:00:00", "2019-04-26_00:00:00", 180),
            (32, 459, 579, 20.0, 6000.0, "2019-04-22_00:00:00", "2019-04-26_00:00:00", 60),
            (32, 1101, 1101, 6.667, 2000.0, "2019-04-22_00:00:00", "2019-04-26_00:00:00", 60),
        ],
        inputs: &["wrfinput_d01", "wrfinput_d02", "wrfinput_d03", "wrfbdy_d01"],
    },
    // max_dom=3 of 6 columns. run_hours=24 from 11-21_06 gives 11-22_06, the same as
    // the end date. dt 15 -> 15/3=5 -> 5/5=1 s. dx 18750 -> 6250 -> 1250 m. Only
    // history_interval_s=600 is set. history_interval_m and history_interval
    // default to 0, so the interval is 600 s = 10 min. grid_fdda=1 for d01..d03
    // with gfdda_inname="wrffdda_d<domain>" gives wrffdda_d01..d03.
    // input_from_file is .true. for d01..d03, and specified=.true.
    Expected {
        file: "a2e-mmc_WRF-setups_ChisholmView-3dom-fdda-history_s",
        domains: &[
            (177, 201, 201, 15.0, 18750.0, "2013-11-21_06:00:00", "2013-11-22_06:00:00", 10),
            (177, 201, 201, 5.0, 6250.0, "2013-11-21_06:00:00", "2013-11-22_06:00:00", 10),
            (177, 200, 200, 1.0, 1250.0, "2013-11-21_06:00:00", "2013-11-22_06:00:00", 10),
        ],
        inputs: &[
            "wrfinput_d01",
            "wrfinput_d02",
            "wrfinput_d03",
            "wrfbdy_d01",
            "wrffdda_d01",
            "wrffdda_d02",
            "wrffdda_d03",
        ],
    },
    // Idealised tropical cyclone (periodic x and y, no specified, no ideal_case)
    // restarted with restart=.true. and 3 domains. run_hours=6 from 09-07_18 gives
    // 09-08_00, the same as the end date. dt 5 -> 5/3 -> 5/9 s. dx 15000 -> 5000 ->
    // 15000/9 = 1666.67 m, because WRF 4.2 and later ignore the written 1670.
    // History 180, 180, 15 min. All nests start with d01, so all are alive at the
    // restart time, and wrf.exe reads wrfrst_d0n_<start> in place of wrfinput.
    // A restart does not run ideal.exe, so input_sounding is not read.
    Expected {
        file: "alyssa-stansfield_wrf-tc-ideal_restart-3dom-moving-nest",
        domains: &[
            (59, 399, 399, 5.0, 15000.0, "2007-09-07_18:00:00", "2007-09-08_00:00:00", 180),
            (59, 399, 399, 1.667, 5000.0, "2007-09-07_18:00:00", "2007-09-08_00:00:00", 180),
            (59, 507, 507, 0.5556, 1666.67, "2007-09-07_18:00:00", "2007-09-08_00:00:00", 15),
        ],
        inputs: &[
            "wrfrst_d01_2007-09-07_18:00:00",
            "wrfrst_d02_2007-09-07_18:00:00",
            "wrfrst_d03_2007-09-07_18:00:00",
        ],
    },
    // max_dom=4, parent_id(1)=1, f90nml-style lines without commas. All run_* are 0,
    // so d01 ends at the end date, 02-07_00 (4 days). dt 120 -> 40 -> 40/3 -> 40/9 s.
    // A single dx=27000, so the nests get 9000, 3000, 1000 m. History 180, 180, 60,
    // 60 min. sst_update=1, but auxinput4_interval=360 is written for d01 only, and
    // the other columns keep the Registry default 0, so only wrflowinp_d01 is read.
    Expected {
        file: "envlib_wrf-runs_4dom-sst_update-one-interval",
        domains: &[
            (32, 111, 99, 120.0, 27000.0, "2020-02-03_00:00:00", "2020-02-07_00:00:00", 180),
            (32, 201, 132, 40.0, 9000.0, "2020-02-03_00:00:00", "2020-02-07_00:00:00", 180),
            (32, 534, 315, 13.333, 3000.0, "2020-02-03_00:00:00", "2020-02-07_00:00:00", 60),
            (32, 831, 318, 4.444, 1000.0, "2020-02-03_00:00:00", "2020-02-07_00:00:00", 60),
        ],
        inputs: &[
            "wrfinput_d01",
            "wrfinput_d02",
            "wrfinput_d03",
            "wrfinput_d04",
            "wrfbdy_d01",
            "wrflowinp_d01",
        ],
    },
    // Idealised Held-Suarez global run. run_days=1000 beats the end date 0002-01-01.
    // Years 1 to 3 have no leap day, so day 1000 is 0003-09-28. dt 1800 s,
    // dx 625373.3125 m, history 14400 min (10 days). ideal.exe for this case
    // opens no profile file (dyn_em/module_initialize_heldsuarez.F, WRF 4.7.1),
    // so the list is empty.
    // This namelist, the real global one below and the tropical cyclone one above
    // all lack both `specified` and `ideal_case`. `num_metgrid_levels` marks the
    // real one, and `polar` marks this global idealised one.
    Expected {
        file: "wrf-model_WRF_em_heldsuarez-run_days-no-profile",
        domains: &[
            (40, 36, 64, 1800.0, 625373.3125, "0001-01-01_00:00:00", "0003-09-28_00:00:00", 14400),
        ],
        inputs: &[],
    },
    // Idealised supercell with one nest. e_we, e_sn, dx and the ratios follow a blank
    // line after `smooth_option = 0`. run_hours=1 beats end_minute=120 for d01. d02
    // writes end 00:120 = 02:00, and its parent end clips it to 01:00. dt 12 -> 4 s.
    // dx is written for d01 only, so d02 gets 2000/3 m. History 10 min. No
    // input_from_file, so the nest is interpolated. ideal_case=2 reads input_sounding.
    Expected {
        file: "wrf-model_WRF_em_quarter_ss-3to1-ideal-nest",
        domains: &[
            (40, 60, 60, 12.0, 2000.0, "0001-01-01_00:00:00", "0001-01-01_01:00:00", 10),
            (40, 90, 90, 4.0, 666.667, "0001-01-01_00:00:00", "0001-01-01_01:00:00", 10),
        ],
        inputs: &["input_sounding"],
    },
    // Real-data global run with periodic_x and polar but no specified. WRF reads
    // wrfbdy_d01 only when specified is set (share/mediation_integrate.F, WRF 4.7.1),
    // so wrf.exe needs only the wrfinput_d01 from real.exe. d01 starts 2008-01-02_12,
    // and the unused columns hold 01-01_00. run_hours=1 gives 13:00.
    // dt = 600 + 0/112 s. dx 156343.322 m. History 60 min.
    // p_top_requested appears twice in &domains.
    Expected {
        file: "wrf-model_WRF_em_real-global-polar-no-specified",
        domains: &[
            (40, 128, 256, 600.0, 156343.322, "2008-01-02_12:00:00", "2008-01-02_13:00:00", 60),
        ],
        inputs: &["wrfinput_d01"],
    },
    // Real case with one nest, and assignments between the `/` of &time_control and
    // &diags. Fortran skips text outside a group, and WRF rewinds the file before
    // each group. No start_minute/second. run_hours=12 from 01-24_12 gives 01-25_00,
    // the same as the end date of both columns. dt 180 -> 60 s. dx 30000 -> 10000 m.
    // History 60 min. input_from_file=.true. for d02, and specified=.true.
    Expected {
        file: "wrf-model_WRF_em_real-ndown_2-text-between-groups",
        domains: &[
            (32, 60, 73, 180.0, 30000.0, "2000-01-24_12:00:00", "2000-01-25_00:00:00", 60),
            (32, 30, 30, 60.0, 10000.0, "2000-01-24_12:00:00", "2000-01-25_00:00:00", 60),
        ],
        inputs: &["wrfinput_d01", "wrfinput_d02", "wrfbdy_d01"],
    },
];

fn fixture_dir() -> String {
    format!("{}/../../tests/fixtures/namelists-extra", env!("CARGO_MANIFEST_DIR"))
}

fn case_of(file: &str) -> WrfCase {
    let path = format!("{}/{file}.namelist.input", fixture_dir());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("failed to read {path}: {e}"));
    let parsed = namelist::parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    WrfCase::from_namelist(&parsed, "4.7.1").unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn close(actual: f64, expected: f64, relative: f64) -> bool {
    (actual - expected).abs() <= expected.abs() * relative
}

#[test]
fn further_namelists_match_table() {
    let count = std::fs::read_dir(fixture_dir()).expect("fixture folder").count();
    assert_eq!(count, TABLE.len(), "one table entry per file in namelists-extra");

    for expected in TABLE {
        let case = case_of(expected.file);
        assert_eq!(case.domains.len(), expected.domains.len(), "{}: domain count", expected.file);
        for (domain, row) in case.domains.iter().zip(expected.domains) {
            let (z, y, x, dt, dx, start, end, history) = *row;
            let label = format!("{} d{:02}", expected.file, domain.id);
            assert_eq!([domain.e_vert - 1, domain.e_sn - 1, domain.e_we - 1], [z, y, x], "{label}: mass grid");
            assert!(close(domain.dt, dt, 2e-3), "{label}: dt {} vs {dt}", domain.dt);
            assert!(close(domain.dx, dx, 1e-4), "{label}: dx {} vs {dx}", domain.dx);
            assert_eq!(domain.start.to_string(), start, "{label}: start");
            assert_eq!(domain.end.to_string(), end, "{label}: end");
            assert_eq!(domain.history_interval, history * 60, "{label}: history interval");
        }
        let mut inputs: Vec<String> = expected.inputs.iter().map(|s| s.to_string()).collect();
        inputs.sort();
        assert_eq!(case.input_files, inputs, "{}: input files", expected.file);
    }
}
