//! WRF's reading of `namelist.input`: domains, time steps, grid spacing, run
//! window, history output and the input files `wrf.exe` will open.
//!
//! The rules follow WRF's own source (share/set_timekeeping.F,
//! share/module_check_a_mundo.F, the Registry defaults): columns that a
//! namelist does not write keep the Registry default, not the column-1 value.

use crate::namelist::{Namelist, Value, Variable};
use crate::time::WrfTime;

/// A namelist value that WRF would reject or that cloudrun cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct CaseError {
    pub line: Option<usize>,
    pub message: String,
}

/// One WRF domain as the model will run it.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// 1-based domain id (d01 is 1).
    pub id: usize,
    /// Parent domain id; 0 for d01.
    pub parent_id: usize,
    /// Staggered point counts as written: `e_we`, `e_sn`, `e_vert`.
    pub e_we: i64,
    pub e_sn: i64,
    pub e_vert: i64,
    /// Time step in seconds, possibly fractional.
    pub dt: f64,
    /// Steps this domain takes per step of d01 (product of `parent_time_step_ratio`).
    pub steps_per_root_step: i64,
    pub dx: f64,
    pub dy: f64,
    pub start: WrfTime,
    pub end: WrfTime,
    /// History interval in seconds; 0 means no history output.
    pub history_interval: i64,
    pub frames_per_outfile: i64,
}

impl Domain {
    /// Mass-grid points, the cells one time step updates.
    pub fn mass_points(&self) -> i64 {
        (self.e_we - 1).max(1) * (self.e_sn - 1).max(1) * (self.e_vert - 1).max(1)
    }

    /// Time steps this domain takes from its start to its end.
    pub fn steps(&self) -> f64 {
        let seconds = (self.end.seconds() - self.start.seconds()).max(0) as f64;
        (seconds / self.dt).ceil()
    }

    /// History frame times: start + k * interval while not after the end.
    pub fn history_times(&self) -> Vec<WrfTime> {
        if self.history_interval <= 0 || self.end < self.start {
            return Vec::new();
        }
        let count = (self.end.seconds() - self.start.seconds()) / self.history_interval + 1;
        (0..count).map(|k| self.start.add_seconds(k * self.history_interval)).collect()
    }
}

/// Source of the case's initial state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseKind {
    /// Real data: `wrfinput`/`wrfbdy` from real.exe.
    Real,
    /// Idealised: `ideal.exe` builds `wrfinput_d01` from a profile file first.
    Ideal { profile: Option<String> },
}

/// Everything cloudrun derives from one `namelist.input`.
#[derive(Debug, Clone, PartialEq)]
pub struct WrfCase {
    pub domains: Vec<Domain>,
    pub kind: CaseKind,
    pub restart: bool,
    pub nocolons: bool,
    /// `nproc_x` and `nproc_y` as written (-1 when WRF chooses).
    pub nproc_x: i64,
    pub nproc_y: i64,
    /// Ranks reserved for I/O quilting (`nio_groups * nio_tasks_per_group`).
    pub io_ranks: i64,
    /// `history_outname` with `<domain>` and `<date>` placeholders.
    pub history_outname: String,
    /// Input files `wrf.exe` (or `ideal.exe`) opens, besides `namelist.input`.
    pub input_files: Vec<String>,
}

impl WrfCase {
    /// Derives the case from a parsed namelist; `version` selects version-dependent rules.
    pub fn from_namelist(namelist: &Namelist, version: &str) -> Result<Self, CaseError> {
        let reader = Reader { namelist };
        let max_dom = reader.int("domains", "max_dom", 0, 1)?;
        if !(1..=99).contains(&max_dom) {
            return Err(reader.invalid("domains", "max_dom", "must be between 1 and 99"));
        }
        let max_dom = max_dom as usize;

        let root_dt = root_time_step(&reader)?;
        let nocolons = reader.logical("time_control", "nocolons", 0, false)?;
        let mut domains: Vec<Domain> = Vec::with_capacity(max_dom);
        for column in 0..max_dom {
            let domain = read_domain(&reader, column, root_dt, &domains, version)?;
            domains.push(domain);
        }

        let specified = reader.logical("bdy_control", "specified", 0, false)?;
        // real.exe-only settings mark a real case even without lateral boundaries (global runs).
        let real = specified || reader.variable("domains", "num_metgrid_levels").is_some();
        let kind = if real {
            CaseKind::Real
        } else {
            let profile = if reader.int("ideal", "ideal_case", 0, 0)? == 7 {
                // em_b_wave reads its jet profile instead of a sounding.
                Some("input_jet".to_string())
            } else if reader.logical("bdy_control", "polar", 0, false)? {
                // The global idealised case (em_heldsuarez) starts from an analytic state and reads no file.
                None
            } else {
                Some("input_sounding".to_string())
            };
            CaseKind::Ideal { profile }
        };
        let specified_boundary = specified;

        let mut case = WrfCase {
            restart: reader.logical("time_control", "restart", 0, false)?,
            nocolons,
            nproc_x: reader.int("domains", "nproc_x", 0, -1)?,
            nproc_y: reader.int("domains", "nproc_y", 0, -1)?,
            io_ranks: reader.int("namelist_quilt", "nio_groups", 0, 1)?.max(0)
                * reader.int("namelist_quilt", "nio_tasks_per_group", 0, 0)?.max(0),
            history_outname: reader.string("time_control", "history_outname", 0, "wrfout_d<domain>_<date>")?,
            domains,
            kind,
            input_files: Vec::new(),
        };
        case.input_files = required_inputs(&reader, &case, specified_boundary)?;
        Ok(case)
    }

    /// Run length of d01 in seconds, the basis of progress and cost.
    pub fn run_seconds(&self) -> i64 {
        let root = &self.domains[0];
        root.end.seconds() - root.start.seconds()
    }

    /// Substitutes `<domain>` and `<date>` in a WRF file-name template.
    pub fn file_name(&self, template: &str, domain: usize, time: WrfTime) -> String {
        substitute(template, domain, time, self.nocolons)
    }
}

fn substitute(template: &str, domain: usize, time: WrfTime, nocolons: bool) -> String {
    let date = time.format(nocolons);
    let text = time.to_string();
    template
        .replace("<domain>", &format!("{domain:02}"))
        .replace("<date>", &date)
        .replace("<year>", &text[0..4])
        .replace("<month>", &text[5..7])
        .replace("<day>", &text[8..10])
        .replace("<hour>", &text[11..13])
}

/// d01's time step: `time_step + time_step_fract_num / time_step_fract_den` seconds.
fn root_time_step(reader: &Reader) -> Result<f64, CaseError> {
    let whole = reader.int("domains", "time_step", 0, -1)?;
    let numerator = reader.int("domains", "time_step_fract_num", 0, 0)?;
    let denominator = reader.int("domains", "time_step_fract_den", 0, 1)?;
    if denominator <= 0 {
        return Err(reader.invalid("domains", "time_step_fract_den", "must be positive"));
    }
    let dt = whole as f64 + numerator as f64 / denominator as f64;
    if whole < 0 || dt <= 0.0 {
        return Err(reader.invalid(
            "domains",
            "time_step",
            "must give a positive time step in seconds (set time_step, or time_step_fract_num/_den)",
        ));
    }
    Ok(dt)
}

fn read_domain(
    reader: &Reader,
    column: usize,
    root_dt: f64,
    parents: &[Domain],
    version: &str,
) -> Result<Domain, CaseError> {
    let id = column + 1;
    let e_we = reader.int("domains", "e_we", column, 32)?;
    let e_sn = reader.int("domains", "e_sn", column, 32)?;
    let e_vert = reader.int("domains", "e_vert", column, 31)?;
    for (name, value) in [("e_we", e_we), ("e_sn", e_sn), ("e_vert", e_vert)] {
        if !(2..=100_000).contains(&value) {
            return Err(reader.invalid_at("domains", name, column, "must be between 2 and 100000"));
        }
    }
    let (start, end_as_written) = read_window(reader, column)?;
    let history_interval = interval_seconds(reader, "history_interval", column)?;
    let frames_per_outfile = reader.int("time_control", "frames_per_outfile", column, 10)?.max(1);

    if column == 0 {
        let end = root_end(reader, start)?.unwrap_or(end_as_written);
        if end <= start {
            return Err(reader.invalid(
                "time_control",
                "end_year",
                &format!("end time {end} must be after start time {start} for domain 1"),
            ));
        }
        let dx = reader.real("domains", "dx", 0, 200.0)?;
        let dy = reader.real("domains", "dy", 0, 200.0)?;
        if dx <= 0.0 || dy <= 0.0 {
            return Err(reader.invalid("domains", "dx", "dx and dy must be positive"));
        }
        return Ok(Domain {
            id,
            parent_id: 0,
            e_we,
            e_sn,
            e_vert,
            dt: root_dt,
            steps_per_root_step: 1,
            dx,
            dy,
            start,
            end,
            history_interval,
            frames_per_outfile,
        });
    }

    let parent_id = reader.int("domains", "parent_id", column, 0)?;
    if parent_id < 1 || parent_id as usize >= id {
        return Err(reader.invalid_at(
            "domains",
            "parent_id",
            column,
            &format!("must name an earlier domain (1 to {})", id - 1),
        ));
    }
    let parent = &parents[parent_id as usize - 1];
    let time_ratio = reader.int("domains", "parent_time_step_ratio", column, 1)?;
    let grid_ratio = reader.int("domains", "parent_grid_ratio", column, 1)?;
    if time_ratio < 1 || grid_ratio < 1 {
        return Err(reader.invalid_at(
            "domains",
            "parent_grid_ratio",
            column,
            "parent_grid_ratio and parent_time_step_ratio must be at least 1",
        ));
    }
    let (dx, dy) = nest_spacing(reader, column, parent, grid_ratio, version)?;
    Ok(Domain {
        id,
        parent_id: parent_id as usize,
        e_we,
        e_sn,
        e_vert,
        dt: parent.dt / time_ratio as f64,
        steps_per_root_step: parent.steps_per_root_step * time_ratio,
        dx,
        dy,
        start,
        // A nest advances only while its parent does.
        end: end_as_written.min(parent.end),
        history_interval,
        frames_per_outfile,
    })
}

/// Nest spacing: derived from the parent since WRF 4.2; older versions used the column as written.
fn nest_spacing(
    reader: &Reader,
    column: usize,
    parent: &Domain,
    grid_ratio: i64,
    version: &str,
) -> Result<(f64, f64), CaseError> {
    let derived = (parent.dx / grid_ratio as f64, parent.dy / grid_ratio as f64);
    if version_at_least(version, 4, 2) {
        return Ok(derived);
    }
    let dx = reader.optional_real("domains", "dx", column)?.unwrap_or(derived.0);
    let dy = reader.optional_real("domains", "dy", column)?.unwrap_or(derived.1);
    Ok((dx, dy))
}

fn version_at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// Reads `start_*` and `end_*` of one column.
fn read_window(reader: &Reader, column: usize) -> Result<(WrfTime, WrfTime), CaseError> {
    let read = |prefix: &str, defaults: [i64; 6]| -> Result<WrfTime, CaseError> {
        let mut fields = [0i64; 6];
        for (index, unit) in ["year", "month", "day", "hour", "minute", "second"].iter().enumerate() {
            fields[index] = reader.int("time_control", &format!("{prefix}_{unit}"), column, defaults[index])?;
        }
        WrfTime::from_fields(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]).ok_or_else(|| {
            reader.invalid_at(
                "time_control",
                &format!("{prefix}_year"),
                column,
                &format!(
                    "{prefix} date {:04}-{:02}-{:02} {:02}:{:02}:{:02} is not a valid date",
                    fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]
                ),
            )
        })
    };
    let start = read("start", [1993, 3, 13, 12, 0, 0])?;
    let end = read("end", [1993, 3, 14, 12, 0, 0])?;
    Ok((start, end))
}

/// d01's end from `run_days/hours/minutes/seconds`, which add up and win over `end_*`.
fn root_end(reader: &Reader, start: WrfTime) -> Result<Option<WrfTime>, CaseError> {
    let mut total = 0i64;
    for (name, unit) in [("run_days", 86_400), ("run_hours", 3600), ("run_minutes", 60), ("run_seconds", 1)] {
        let value = reader.int("time_control", name, 0, 0)?;
        if value < 0 {
            return Err(reader.invalid("time_control", name, "must not be negative"));
        }
        total += value * unit;
    }
    Ok((total > 0).then(|| start.add_seconds(total)))
}

/// Reads an interval variable in seconds: `<name>_d/_h/_s` add to the minutes of `<name>_m`,
/// or of `<name>` when `_m` is 0.
fn interval_seconds(reader: &Reader, name: &str, column: usize) -> Result<i64, CaseError> {
    let mut minutes = reader.int("time_control", &format!("{name}_m"), column, 0)?;
    if minutes == 0 {
        minutes = reader.int("time_control", name, column, 0)?;
    }
    let days = reader.int("time_control", &format!("{name}_d"), column, 0)?;
    let hours = reader.int("time_control", &format!("{name}_h"), column, 0)?;
    let seconds = reader.int("time_control", &format!("{name}_s"), column, 0)?;
    Ok((days * 86_400 + hours * 3600 + minutes * 60 + seconds).max(0))
}

/// Files `wrf.exe` opens besides the namelist and WRF's own tables, sorted by name.
// NOTE: per-rank restart files (io_form_restart = 102), iofields_filename and other auxinput
// streams are not listed; users upload them as extra files, which the run stages as well.
fn required_inputs(reader: &Reader, case: &WrfCase, specified_boundary: bool) -> Result<Vec<String>, CaseError> {
    let mut files = Vec::new();
    let root_start = case.domains[0].start;
    let rst_inname = reader.string("time_control", "rst_inname", 0, "wrfrst_d<domain>_<date>")?;
    let ideal = matches!(case.kind, CaseKind::Ideal { .. });

    for (column, domain) in case.domains.iter().enumerate() {
        let alive_at_restart = domain.start <= root_start;
        if case.restart && alive_at_restart {
            // A restart reads wrfrst in place of wrfinput, also for ideal cases (no ideal.exe then).
            files.push(case.file_name(&rst_inname, domain.id, domain.start));
        } else if ideal {
            // ideal.exe writes every wrfinput file from the namelist and the profile.
        } else if column == 0 || reader.logical("time_control", "input_from_file", column, false)? {
            files.push(format!("wrfinput_d{:02}", domain.id));
        }
    }
    if let CaseKind::Ideal { profile: Some(profile) } = &case.kind {
        if !case.restart {
            files.push(profile.clone());
        }
    }
    if specified_boundary {
        files.push("wrfbdy_d01".to_string());
    }

    // NOTE: WRF's Registry defaults for the two names below are auxinput4_d<domain>_<date> and
    // gfdda_d<domain>; cloudrun assumes the names real.exe writes, which working namelists set.
    if reader.int("physics", "sst_update", 0, 0)? == 1 {
        let template = reader.string("time_control", "auxinput4_inname", 0, "wrflowinp_d<domain>")?;
        for (column, domain) in case.domains.iter().enumerate() {
            if interval_seconds(reader, "auxinput4_interval", column)? > 0 {
                files.push(case.file_name(&template, domain.id, domain.start));
            }
        }
    }

    let fdda_template = reader.string("fdda", "gfdda_inname", 0, "wrffdda_d<domain>")?;
    for (column, domain) in case.domains.iter().enumerate() {
        if matches!(reader.int("fdda", "grid_fdda", column, 0)?, 1 | 2) {
            files.push(case.file_name(&fdda_template, domain.id, domain.start));
        }
    }

    files.sort();
    files.dedup();
    Ok(files)
}

/// Typed access to namelist values with Registry defaults and errors that name the line.
struct Reader<'a> {
    namelist: &'a Namelist,
}

impl Reader<'_> {
    fn variable(&self, group: &str, name: &str) -> Option<&Variable> {
        self.namelist.get(group, name)
    }

    fn value(&self, group: &str, name: &str, column: usize) -> Option<&Value> {
        self.variable(group, name)?.values.get(column)?.as_ref()
    }

    fn invalid(&self, group: &str, name: &str, problem: &str) -> CaseError {
        CaseError {
            line: self.variable(group, name).map(|v| v.line),
            message: format!("`{name}` in &{group} {problem}"),
        }
    }

    fn invalid_at(&self, group: &str, name: &str, column: usize, problem: &str) -> CaseError {
        CaseError {
            line: self.variable(group, name).map(|v| v.line),
            message: format!("`{name}` for domain {} in &{group} {problem}", column + 1),
        }
    }

    fn int(&self, group: &str, name: &str, column: usize, default: i64) -> Result<i64, CaseError> {
        match self.value(group, name, column) {
            None => Ok(default),
            Some(Value::Int(v)) => Ok(*v),
            Some(Value::Real(v)) if v.fract() == 0.0 && v.abs() < 1e15 => Ok(*v as i64),
            Some(other) => Err(self.invalid_at(group, name, column, &format!("must be an integer, found {other}"))),
        }
    }

    fn optional_real(&self, group: &str, name: &str, column: usize) -> Result<Option<f64>, CaseError> {
        match self.value(group, name, column) {
            None => Ok(None),
            Some(Value::Int(v)) => Ok(Some(*v as f64)),
            Some(Value::Real(v)) => Ok(Some(*v)),
            Some(other) => Err(self.invalid_at(group, name, column, &format!("must be a number, found {other}"))),
        }
    }

    fn real(&self, group: &str, name: &str, column: usize, default: f64) -> Result<f64, CaseError> {
        Ok(self.optional_real(group, name, column)?.unwrap_or(default))
    }

    fn logical(&self, group: &str, name: &str, column: usize, default: bool) -> Result<bool, CaseError> {
        match self.value(group, name, column) {
            None => Ok(default),
            Some(Value::Logical(v)) => Ok(*v),
            Some(other) => Err(self.invalid_at(group, name, column, &format!("must be .true. or .false., found {other}"))),
        }
    }

    fn string(&self, group: &str, name: &str, column: usize, default: &str) -> Result<String, CaseError> {
        match self.value(group, name, column) {
            None => Ok(default.to_string()),
            Some(Value::Str(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(Value::Str(_)) => Ok(default.to_string()),
            Some(other) => Err(self.invalid_at(group, name, column, &format!("must be a quoted string, found {other}"))),
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod extra_tests;
