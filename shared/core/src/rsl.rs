//! Reading WRF's rsl logs: progress lines, success, and failure messages.

use crate::time::WrfTime;

/// One `Timing for main` line: the model time after a step of one domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub domain: usize,
    pub time: WrfTime,
    pub elapsed_seconds: f64,
}

/// Parses `Timing for main[ (dt=..)]: time <T> on domain <n>: <s> elapsed seconds`.
pub fn parse_step(line: &str) -> Option<Step> {
    let rest = line.trim_start().strip_prefix("Timing for main")?;
    let rest = match rest.strip_prefix(" (dt=") {
        Some(adaptive) => adaptive.split_once("):")?.1,
        None => rest.strip_prefix(':')?,
    };
    let rest = rest.trim_start().strip_prefix("time ")?;
    let (time, rest) = rest.split_once(" on domain")?;
    let (domain, rest) = rest.split_once(':')?;
    let elapsed = rest.trim().strip_suffix("elapsed seconds")?.trim();
    Some(Step {
        domain: domain.trim().parse().ok()?,
        time: WrfTime::parse(time.trim())?,
        elapsed_seconds: elapsed.parse().ok()?,
    })
}

/// Returns whether the line reports a completed run.
pub fn is_success(line: &str) -> bool {
    line.contains("SUCCESS COMPLETE WRF")
}

/// Progress of d01 through a log read so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Model time reached by d01.
    pub model_time: Option<WrfTime>,
    /// Wall seconds of d01 steps after the first, which carries initialisation.
    pub step_seconds: f64,
    /// Model seconds covered by those steps.
    pub step_model_seconds: f64,
    pub success: bool,
}

impl Progress {
    /// Reads one more log line.
    pub fn feed(&mut self, line: &str) {
        if is_success(line) {
            self.success = true;
            return;
        }
        let Some(step) = parse_step(line) else {
            return;
        };
        if step.domain != 1 {
            return;
        }
        if let Some(previous) = self.model_time {
            // Parent timers include their nests' steps, so d01 lines alone give the wall time.
            self.step_seconds += step.elapsed_seconds;
            self.step_model_seconds += (step.time.seconds() - previous.seconds()) as f64;
        }
        self.model_time = Some(step.time);
    }

    /// Percent of the run window covered, from 0 to 100.
    pub fn percent(&self, start: WrfTime, end: WrfTime) -> f64 {
        let total = (end.seconds() - start.seconds()) as f64;
        let Some(time) = self.model_time else {
            return 0.0;
        };
        if total <= 0.0 {
            return 100.0;
        }
        let done = (time.seconds() - start.seconds()) as f64;
        let percent = (done / total * 100.0).clamp(0.0, 100.0);
        (percent * 10.0).round() / 10.0
    }

    /// Seconds until d01 reaches `end` at the pace measured so far.
    pub fn remaining_seconds(&self, end: WrfTime) -> Option<i64> {
        let time = self.model_time?;
        if self.step_model_seconds <= 0.0 {
            return None;
        }
        let pace = self.step_seconds / self.step_model_seconds;
        let left = (end.seconds() - time.seconds()).max(0) as f64;
        Some((left * pace).round() as i64)
    }
}

/// Extracts the message of the first `FATAL CALLED` block, with the `ERROR` lines printed just before it.
pub fn fatal_message(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.iter().position(|l| l.contains("FATAL CALLED"))?;
    let mut message: Vec<String> = lines[start.saturating_sub(8)..start]
        .iter()
        .filter(|l| l.contains("ERROR"))
        .map(|l| l.trim().to_string())
        .collect();
    for line in &lines[start + 1..] {
        let trimmed = line.trim();
        if trimmed.starts_with("-----") {
            break;
        }
        if trimmed.is_empty() || trimmed.starts_with("FATAL CALLED FROM FILE") {
            continue;
        }
        message.push(trimmed.to_string());
        if message.len() >= 12 {
            break;
        }
    }
    Some(message.join("\n")).filter(|m| !m.is_empty()).or_else(|| Some("FATAL CALLED".to_string()))
}

/// Returns the last `count` non-empty lines of a log.
pub fn tail(log: &str, count: usize) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_line_forms() {
        let step = parse_step("Timing for main: time 2020-03-18_00:03:00 on domain   1:    1.52669 elapsed seconds")
            .expect("plain form");
        assert_eq!(step.domain, 1);
        assert_eq!(step.time.to_string(), "2020-03-18_00:03:00");
        assert!((step.elapsed_seconds - 1.52669).abs() < 1e-9);
        let adaptive = parse_step("Timing for main (dt=293.68): time 2001-07-07_08:00:52 on domain   1:    0.16209 elapsed seconds")
            .expect("adaptive form");
        assert_eq!(adaptive.time.to_string(), "2001-07-07_08:00:52");
        assert!(parse_step("Timing for Writing wrfout_d01_2020-03-18_00:00:00 for domain 1: 0.1 elapsed seconds").is_none());
    }

    #[test]
    fn progress_and_remaining_time() {
        let mut progress = Progress::default();
        let start = WrfTime::parse("0001-01-01_00:00:00").expect("valid");
        let end = WrfTime::parse("0001-01-01_01:00:00").expect("valid");
        progress.feed("Timing for main: time 0001-01-01_00:00:12 on domain   1:    5.0 elapsed seconds");
        progress.feed("Timing for main: time 0001-01-01_00:00:24 on domain   1:    0.1 elapsed seconds");
        progress.feed("Timing for main: time 0001-01-01_00:30:00 on domain   2:    0.1 elapsed seconds");
        assert_eq!(progress.percent(start, end), 0.7);
        assert_eq!(progress.remaining_seconds(end), Some(30));
        progress.feed("d01 0001-01-01_01:00:00 wrf: SUCCESS COMPLETE WRF");
        assert!(progress.success);
    }

    #[test]
    fn fatal_block_message() {
        let log = "  --- ERROR: Reduce the MPI rank count, or redistribute the tasks.\n\
                   -------------- FATAL CALLED ---------------\n\
                   FATAL CALLED FROM FILE:  <stdin>  LINE:    2830\n\
                   NOTE:       1 namelist settings are wrong. Please check and reset these options\n\
                   -------------------------------------------\n";
        let message = fatal_message(log).expect("fatal block");
        assert!(message.contains("Reduce the MPI rank count"), "{message}");
        assert!(message.contains("namelist settings are wrong"), "{message}");
        assert!(fatal_message("all fine\n").is_none());
    }
}
