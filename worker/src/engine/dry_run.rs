//! The dry-run engine: no model runs. It reads the namelist and writes what
//! WRF would write, at a configurable pace: rsl logs in WRF's format and
//! history files named and timed as WRF names them, as netCDF with the
//! domains' dimensions. Every file it writes states that no model was run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cloudrun_core::compute::decomposition;
use cloudrun_core::namelist;
use cloudrun_core::time::WrfTime;
use cloudrun_core::wrf::{Domain, WrfCase};

use super::EngineSettings;
use crate::netcdf::{Attribute, Grid, HistoryFile};

pub const NOTICE: &str = "cloudrun dry-run engine: no model was run; this output only imitates WRF's files";

/// Writes the run's imitation output into `args.run_dir`.
/// Returns the exit code: 0 after `SUCCESS COMPLETE WRF`, 1 for a FATAL stop, 143 when `stop` ended it early.
pub fn run(args: &EngineSettings, stop: &AtomicBool) -> Result<i32, String> {
    let text = std::fs::read_to_string(args.run_dir.join("namelist.input"))
        .map_err(|e| format!("cannot read namelist.input: {e}"))?;
    let parsed = namelist::parse(&text).map_err(|e| format!("invalid namelist.input: {e}"))?;
    let case = WrfCase::from_namelist(&parsed, &args.version).map_err(|e| format!("invalid namelist.input: {e}"))?;
    std::fs::write(args.run_dir.join(super::wrf::STARTED_MARKER), b"").map_err(|e| format!("cannot write the start marker: {e}"))?;
    let mut simulation = Simulation::new(args, &case)?;
    simulation.write_header(args)?;
    if let Err(message) = decomposition(&case, args.cores) {
        // WRF stops in the same way before its first step.
        simulation.log(&format!("  --- ERROR: {message}"))?;
        simulation.log("-------------- FATAL CALLED ---------------")?;
        simulation.log("FATAL CALLED FROM FILE:  <stdin>  LINE:    2830")?;
        simulation.log("NOTE:       1 namelist settings are wrong. Please check and reset these options")?;
        simulation.log("-------------------------------------------")?;
        return Ok(1);
    }
    if !simulation.integrate(stop)? {
        return Ok(143);
    }
    let end = case.domains[0].end;
    simulation.log(&format!("d01 {end} wrf: SUCCESS COMPLETE WRF"))?;
    Ok(0)
}

struct DomainState {
    domain: Domain,
    /// Model seconds since this domain's start.
    offset: f64,
    next_frame: usize,
    frames: Vec<WrfTime>,
    file: Option<HistoryFile>,
}

struct Simulation<'a> {
    case: &'a WrfCase,
    run_dir: &'a Path,
    logs: Vec<BufWriter<File>>,
    domains: Vec<DomainState>,
    /// Log every n-th d01 step so that long runs keep a readable log.
    log_every: u64,
    pause: Duration,
    version: String,
}

impl<'a> Simulation<'a> {
    fn new(args: &'a EngineSettings, case: &'a WrfCase) -> Result<Self, String> {
        let open = |name: &str| {
            File::create(args.run_dir.join(name)).map(BufWriter::new).map_err(|e| format!("cannot create {name}: {e}"))
        };
        let logs = vec![open("rsl.out.0000")?, open("rsl.error.0000")?];
        let root_steps = case.domains[0].steps().max(1.0) as u64;
        let log_every = root_steps.div_ceil(args.max_logged_steps.max(1));
        let pause = Duration::from_secs_f64((args.dry_run_seconds.max(0.0) / root_steps as f64) * log_every as f64);
        let domains = case
            .domains
            .iter()
            .map(|d| DomainState { domain: d.clone(), offset: 0.0, next_frame: 0, frames: d.history_times(), file: None })
            .collect();
        Ok(Simulation { case, run_dir: &args.run_dir, logs, domains, log_every, pause, version: args.version.clone() })
    }

    fn log(&mut self, line: &str) -> Result<(), String> {
        for log in &mut self.logs {
            writeln!(log, "{line}").and_then(|_| log.flush()).map_err(|e| format!("cannot write the log: {e}"))?;
        }
        Ok(())
    }

    fn write_header(&mut self, args: &EngineSettings) -> Result<(), String> {
        let (x, y) = decomposition(self.case, args.cores).unwrap_or((1, args.cores));
        self.log(NOTICE)?;
        self.log("taskid: 0 hostname: cloudrun-dry-run")?;
        self.log(&format!(" Ntasks in X {x:>12} , ntasks in Y {y:>12}"))?;
        let spacing: Vec<(usize, f64)> = self.case.domains.iter().map(|d| (d.id, d.dx)).collect();
        for (id, dx) in spacing {
            self.log(&format!("  Domain # {id}: dx = {dx:>9.3} m"))?;
        }
        self.log(&format!("WRF V{} MODEL (dry run: cloudrun engine, no model code)", self.version))?;
        let start = self.case.domains[0].start;
        self.log(&format!(" SIMULATION START DATE = {start}"))?;
        for index in 0..self.domains.len() {
            // A nest that starts later writes its first frame when it starts stepping.
            if self.domains[index].domain.start == start {
                self.write_due_frames(index)?;
            }
        }
        Ok(())
    }

    /// Runs every d01 step, with the nests stepping inside it as WRF's recursion does.
    /// Returns false when `stop` ended the run early.
    fn integrate(&mut self, stop: &AtomicBool) -> Result<bool, String> {
        let root_steps = self.domains[0].domain.steps() as u64;
        for step in 1..=root_steps {
            if stop.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let logged = step % self.log_every == 0 || step == root_steps;
            self.advance(0, logged)?;
            if logged && !self.pause.is_zero() {
                std::thread::sleep(self.pause);
            }
        }
        Ok(true)
    }

    fn advance(&mut self, index: usize, logged: bool) -> Result<(), String> {
        let state = &mut self.domains[index];
        let length = (state.domain.end.seconds() - state.domain.start.seconds()) as f64;
        state.offset = (state.offset + state.domain.dt).min(length);
        let (id, time) = (state.domain.id, state.domain.start.add_seconds(state.offset.floor() as i64));
        let parent_time = state.domain.start.seconds() as f64 + state.offset;
        let children: Vec<usize> = (0..self.domains.len()).filter(|i| self.domains[*i].domain.parent_id == id).collect();
        for child in children {
            // A nest catches up with its parent's clock while it is inside its own window.
            loop {
                let nest = &self.domains[child];
                let nest_time = nest.domain.start.seconds() as f64 + nest.offset;
                let nest_length = (nest.domain.end.seconds() - nest.domain.start.seconds()) as f64;
                let started = (nest.domain.start.seconds() as f64) < parent_time - 1e-9;
                if !started || nest_time + 1e-9 >= parent_time || nest.offset >= nest_length {
                    break;
                }
                self.advance(child, logged)?;
            }
        }
        if logged {
            let line = format!("Timing for main: time {time} on domain {id:>3}: {:>10.5} elapsed seconds", 0.01);
            self.log(&line)?;
        }
        self.write_due_frames(index)
    }

    fn write_due_frames(&mut self, index: usize) -> Result<(), String> {
        loop {
            let state = &self.domains[index];
            let Some(frame_time) = state.frames.get(state.next_frame).copied() else {
                return Ok(());
            };
            let now = state.domain.start.seconds() as f64 + state.offset;
            if (frame_time.seconds() as f64) > now + 1e-6 {
                return Ok(());
            }
            self.write_frame(index, frame_time)?;
        }
    }

    fn write_frame(&mut self, index: usize, time: WrfTime) -> Result<(), String> {
        let case = self.case;
        let run_dir = self.run_dir;
        let root_start = case.domains[0].start;
        let state = &mut self.domains[index];
        let full = state.file.as_ref().is_some_and(|f| i64::from(f.frames()) >= state.domain.frames_per_outfile);
        if state.file.is_none() || full {
            let name = case.file_name(&case.history_outname, state.domain.id, time);
            let path = run_dir.join(&name);
            let grid = Grid { e_we: state.domain.e_we as u32, e_sn: state.domain.e_sn as u32, e_vert: state.domain.e_vert as u32 };
            let attributes = history_attributes(&state.domain, root_start);
            let units = format!("minutes since {}", root_start.to_string().replace('_', " "));
            state.file = Some(HistoryFile::create(&path, &grid, &attributes, &units).map_err(|e| format!("cannot create {name}: {e}"))?);
        }
        let minutes = (time.seconds() - root_start.seconds()) as f32 / 60.0;
        let file = state.file.as_mut().ok_or("history file missing")?;
        file.append(&time.to_string(), minutes).map_err(|e| format!("cannot write a history frame: {e}"))?;
        state.next_frame += 1;
        let id = state.domain.id;
        let name = case.file_name(&case.history_outname, id, time);
        self.log(&format!("Timing for Writing {name} for domain {id:>8}: {:>10.5} elapsed seconds", 0.001))
    }
}

fn history_attributes(domain: &Domain, root_start: WrfTime) -> Vec<(&'static str, Attribute)> {
    vec![
        ("TITLE", Attribute::Text(NOTICE.to_string())),
        ("CLOUDRUN_ENGINE", Attribute::Text("dry-run".into())),
        ("START_DATE", Attribute::Text(domain.start.to_string())),
        ("SIMULATION_START_DATE", Attribute::Text(root_start.to_string())),
        ("WEST-EAST_GRID_DIMENSION", Attribute::Int(domain.e_we as i32)),
        ("SOUTH-NORTH_GRID_DIMENSION", Attribute::Int(domain.e_sn as i32)),
        ("BOTTOM-TOP_GRID_DIMENSION", Attribute::Int(domain.e_vert as i32)),
        ("DX", Attribute::Float(domain.dx as f32)),
        ("DY", Attribute::Float(domain.dy as f32)),
        ("DT", Attribute::Float(domain.dt as f32)),
        ("GRID_ID", Attribute::Int(domain.id as i32)),
        ("PARENT_ID", Attribute::Int(domain.parent_id as i32)),
    ]
}
