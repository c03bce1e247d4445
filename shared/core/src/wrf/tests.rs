//! Checks every saved real namelist against values derived by hand from WRF's rules
//! (tests/fixtures/namelists, sources in tests/fixtures/SOURCES.md).

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
    Expected {
        file: "CNEA-AQ_smn-forecast_tabs-nospace-comments",
        domains: &[
            (44, 319, 239, 60.0, 13341.3, "2024-06-14_00:00:00", "2024-06-15_00:00:00", 60),
        ],
        inputs: &["wrfinput_d01", "wrfbdy_d01"],
    },
    Expected {
        file: "CORDEX-WRF-community_euro-cordex-cmip6_restart-sst_update-comments",
        domains: &[
            (53, 432, 444, 60.0, 12229.5, "2006-01-01_00:00:00", "2007-01-01_00:00:00", 60),
        ],
        inputs: &["wrfrst_d01_2006-01-01_00:00:00", "wrfbdy_d01", "wrflowinp_d01"],
    },
    Expected {
        file: "CROCUS-Urban_WRF4.5.1_Chicago_3dom-run_days+hours-sst",
        domains: &[
            (54, 402, 403, 10.0, 4500.0, "2024-08-26_18:00:00", "2024-08-28_12:00:00", 60),
            (54, 411, 411, 3.333, 1500.0, "2024-08-26_18:00:00", "2024-08-28_12:00:00", 60),
            (54, 411, 411, 1.111, 500.0, "2024-08-26_18:00:00", "2024-08-28_12:00:00", 60),
        ],
        inputs: &["wrfinput_d01", "wrfinput_d02", "wrfinput_d03", "wrfbdy_d01", "wrflowinp_d01"],
    },
    Expected {
        file: "IMMM-SFA_wrf_historical_run_days-restart-sst-fdda",
        domains: &[
            (32, 299, 424, 60.0, 12000.0, "1981-01-01_00:00:00", "1981-01-08_00:00:00", 60),
        ],
        inputs: &["wrfrst_d01_1981-01-01_00:00:00", "wrfbdy_d01", "wrflowinp_d01", "wrffdda_d01"],
    },
    Expected {
        file: "NOAA-EMC_HRRR_conus-3km-uppercase-F-nproc",
        domains: &[
            (50, 1059, 1799, 20.0, 3000.0, "2018-08-26_12:00:00", "2018-08-26_18:00:00", 15),
        ],
        inputs: &["wrfinput_d01", "wrfbdy_d01"],
    },
    Expected {
        file: "a2e-mmc_WRF-setups_SWiFT-3dom-of-5cols",
        domains: &[
            (87, 99, 117, 90.0, 27000.0, "2013-11-08_00:00:00", "2013-11-10_12:00:00", 120),
            (87, 132, 153, 30.0, 9000.0, "2013-11-08_00:00:00", "2013-11-10_12:00:00", 60),
            (87, 99, 117, 10.0, 3000.0, "2013-11-08_00:00:00", "2013-11-10_12:00:00", 60),
        ],
        inputs: &["wrfinput_d01", "wrfinput_d02", "wrfinput_d03", "wrfbdy_d01"],
    },
    Expected {
        file: "daliagachc_tucu-april_4dom-ratio4-3-3-f90nml-style",
        domains: &[
            (32, 85, 117, 90.0, 38000.0, "2018-04-05_06:00:00", "2018-04-08_06:00:00", 10),
            (32, 204, 252, 22.5, 9500.0, "2018-04-05_06:00:00", "2018-04-08_06:00:00", 10),
            (32, 213, 273, 7.5, 3166.67, "2018-04-05_06:00:00", "2018-04-08_06:00:00", 10),
            (32, 78, 99, 2.5, 1055.56, "2018-04-05_06:00:00", "2018-04-08_06:00:00", 10),
        ],
        inputs: &["wrfinput_d01", "wrfinput_d02", "wrfinput_d03", "wrfinput_d04", "wrfbdy_d01"],
    },
    Expected {
        file: "davegill_wrf_feature_testing_nest-starts-later-restart",
        domains: &[
            (44, 69, 74, 180.0, 30000.0, "2016-03-23_03:00:00", "2016-03-23_03:12:00", 3),
            (44, 78, 87, 60.0, 10000.0, "2016-03-23_03:00:00", "2016-03-23_03:12:00", 3),
        ],
        inputs: &["wrfrst_d01_2016-03-23_03:00:00", "wrfrst_d02_2016-03-23_03:00:00", "wrfbdy_d01"],
    },
    Expected {
        file: "davegill_wrf_feature_testing_nest-starts-later",
        domains: &[
            (44, 69, 74, 180.0, 30000.0, "2016-03-23_00:00:00", "2016-03-23_03:12:00", 3),
            (44, 78, 87, 60.0, 10000.0, "2016-03-23_03:00:00", "2016-03-23_03:12:00", 3),
        ],
        inputs: &["wrfinput_d01", "wrfinput_d02", "wrfbdy_d01"],
    },
    Expected {
        file: "federatedcloud_WRFv4-Benchmarking_conus12km-v4.2.2-bench-restart",
        domains: &[
            (49, 299, 424, 72.0, 12000.0, "2019-11-26_23:00:00", "2019-11-27_00:00:00", 60),
        ],
        inputs: &["wrfrst_d01_2019-11-26_23:00:00", "wrfbdy_d01"],
    },
    Expected {
        file: "mdunlop2_ACM40080_run0-enddate-24h-paired-with-log",
        domains: &[
            (32, 60, 73, 180.0, 30000.0, "2020-03-18_00:00:00", "2020-03-19_00:00:00", 60),
        ],
        inputs: &["wrfinput_d01", "wrfbdy_d01"],
    },
    Expected {
        file: "mjames-upc_WRF-NMM_uppercase-keys-wrfv2",
        domains: &[
            (30, 154, 100, 30.0, 6000.0, "2001-06-11_12:00:00", "2001-06-12_00:00:00", 60),
        ],
        inputs: &["wrfinput_d01", "wrfbdy_d01"],
    },
    Expected {
        file: "wrf-model_WRF_em_b_wave-ideal-run_days",
        domains: &[
            (64, 80, 40, 600.0, 100000.0, "0001-01-01_00:00:00", "0001-01-06_00:00:00", 360),
        ],
        inputs: &["input_jet"],
    },
    Expected {
        file: "wrf-model_WRF_em_fire-fract-dt-history_s",
        domains: &[
            (40, 42, 42, 0.5, 50.0, "2006-01-01_09:00:00", "2006-01-01_10:00:00", 2),
        ],
        inputs: &["input_sounding"],
    },
    Expected {
        file: "wrf-model_WRF_em_les-history_interval_m_s",
        domains: &[
            (39, 39, 39, 1.0, 100.0, "0001-01-01_00:00:00", "0001-01-01_01:00:00", 60),
        ],
        inputs: &["input_sounding"],
    },
    Expected {
        file: "wrf-model_WRF_em_quarter_ss-ideal",
        domains: &[
            (40, 41, 41, 12.0, 2000.0, "0001-01-01_00:00:00", "0001-01-01_01:00:00", 30),
        ],
        inputs: &["input_sounding"],
    },
    Expected {
        file: "wrf-model_WRF_em_real-grid_fdda-2008",
        domains: &[
            (27, 60, 73, 180.0, 30000.0, "2000-01-24_12:00:00", "2000-01-25_00:00:00", 180),
        ],
        inputs: &["wrfinput_d01", "wrfbdy_d01", "wrffdda_d01"],
    },
    Expected {
        file: "wrf-model_WRF_em_real-pbl-les-3dom",
        domains: &[
            (34, 201, 224, 5.0, 1000.0, "2001-06-11_12:00:00", "2001-06-12_00:00:00", 60),
            (34, 96, 111, 1.667, 333.333, "2001-06-11_12:00:00", "2001-06-12_00:00:00", 60),
            (34, 90, 93, 0.5556, 111.111, "2001-06-11_12:00:00", "2001-06-12_00:00:00", 60),
        ],
        inputs: &["wrfinput_d01", "wrfinput_d02", "wrfinput_d03", "wrfbdy_d01"],
    },
    Expected {
        file: "wrf-model_WRF_em_real-v3.9.1.1",
        domains: &[
            (29, 60, 73, 180.0, 30000.0, "2000-01-24_12:00:00", "2000-01-25_00:00:00", 180),
        ],
        inputs: &["wrfinput_d01", "wrfbdy_d01"],
    },
    Expected {
        file: "wrf-model_WRF_em_real-v4.7.1",
        domains: &[
            (47, 129, 149, 90.0, 15000.0, "2019-09-04_12:00:00", "2019-09-06_00:00:00", 60),
            (47, 213, 219, 30.0, 5000.0, "2019-09-04_12:00:00", "2019-09-06_00:00:00", 60),
        ],
        inputs: &["wrfinput_d01", "wrfinput_d02", "wrfbdy_d01"],
    },
];

fn fixture(file: &str) -> String {
    let path = format!("{}/../../tests/fixtures/namelists/{file}.namelist.input", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn case_of(file: &str) -> WrfCase {
    let parsed = namelist::parse(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    WrfCase::from_namelist(&parsed, "4.7.1").unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn close(actual: f64, expected: f64, relative: f64) -> bool {
    (actual - expected).abs() <= expected.abs() * relative
}

#[test]
fn every_saved_namelist_matches_table() {
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

#[test]
fn table_covers_every_fixture() {
    let dir = format!("{}/../../tests/fixtures/namelists", env!("CARGO_MANIFEST_DIR"));
    let count = std::fs::read_dir(&dir).expect("fixture folder").count();
    assert_eq!(count, TABLE.len());
}

#[test]
fn ideal_cases_run_ideal_exe() {
    let quarter = case_of("wrf-model_WRF_em_quarter_ss-ideal");
    assert_eq!(quarter.kind, CaseKind::Ideal { profile: Some("input_sounding".into()) });
    let b_wave = case_of("wrf-model_WRF_em_b_wave-ideal-run_days");
    assert_eq!(b_wave.input_files, vec!["input_jet".to_string()]);
    assert_eq!(case_of("wrf-model_WRF_em_real-v4.7.1").kind, CaseKind::Real);
}

#[test]
fn fractional_dt_chain_is_exact() {
    let tucu = case_of("daliagachc_tucu-april_4dom-ratio4-3-3-f90nml-style");
    let dts: Vec<f64> = tucu.domains.iter().map(|d| d.dt).collect();
    assert_eq!(dts, vec![90.0, 22.5, 7.5, 2.5]);
    assert_eq!(tucu.domains[3].steps_per_root_step, 36);
}

#[test]
fn nest_start_later_keeps_own_start() {
    let case = case_of("davegill_wrf_feature_testing_nest-starts-later");
    assert_eq!(case.domains[1].start.to_string(), "2016-03-23_03:00:00");
    assert!(case.domains[1].steps() < case.domains[0].steps() * 3.0);
}

#[test]
fn nocolons_names_restart_files() {
    let text = "&time_control start_year = 2019, start_month = 11, start_day = 26, start_hour = 23, run_hours = 1, \
                restart = .true., nocolons = .true. / &domains time_step = 72, e_we = 425, e_sn = 300 / \
                &bdy_control specified = .true. /";
    let parsed = namelist::parse(text).expect("parses");
    let case = WrfCase::from_namelist(&parsed, "4.7.1").expect("valid");
    assert_eq!(case.input_files, vec!["wrfbdy_d01".to_string(), "wrfrst_d01_2019-11-26_23_00_00".to_string()]);
}

#[test]
fn pre_4_2_uses_written_nest_dx() {
    let text = "&time_control run_hours = 1, start_year = 2000, 2000, end_year = 2000, 2000 / &domains time_step = 90, max_dom = 2, \
                e_we = 100, 100, e_sn = 100, 100, dx = 9000, 3333.33, dy = 9000, 3333.33, parent_id = 0, 1, \
                parent_grid_ratio = 1, 3, parent_time_step_ratio = 1, 3 / &bdy_control specified = .true. /";
    let parsed = namelist::parse(text).expect("parses");
    let old = WrfCase::from_namelist(&parsed, "3.9").expect("valid");
    assert_eq!(old.domains[1].dx, 3333.33);
    let new = WrfCase::from_namelist(&parsed, "4.7.1").expect("valid");
    assert_eq!(new.domains[1].dx, 3000.0);
}

#[test]
fn invalid_values_name_the_line() {
    let text = "&time_control\n run_hours = 1\n/\n&domains\n time_step = 60\n e_we = 'wide'\n/\n";
    let parsed = namelist::parse(text).expect("parses");
    let error = WrfCase::from_namelist(&parsed, "4.7.1").expect_err("e_we is text");
    assert_eq!(error.line, Some(6));
    assert!(error.message.contains("e_we"), "{error}");

    let text = "&time_control run_hours = 1 / &domains time_step = 60, max_dom = 2, parent_id = 0, 5 /";
    let parsed = namelist::parse(text).expect("parses");
    let error = WrfCase::from_namelist(&parsed, "4.7.1").expect_err("parent 5 of domain 2");
    assert!(error.message.contains("parent_id"), "{error}");
}

#[test]
fn zero_time_step_rejected() {
    let parsed = namelist::parse("&time_control run_hours = 1 / &domains e_we = 50, e_sn = 50 /").expect("parses");
    let error = WrfCase::from_namelist(&parsed, "4.7.1").expect_err("time_step defaults to -1");
    assert!(error.message.contains("time_step"), "{error}");
}

#[test]
fn history_frames_include_start_and_end() {
    let case = case_of("wrf-model_WRF_em_quarter_ss-ideal");
    let frames: Vec<String> = case.domains[0].history_times().iter().map(|t| t.to_string()).collect();
    assert_eq!(frames, vec!["0001-01-01_00:00:00", "0001-01-01_00:30:00", "0001-01-01_01:00:00"]);
}
