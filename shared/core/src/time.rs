//! WRF date-times (`YYYY-MM-DD_HH:MM:SS`, proleptic Gregorian, year 1 allowed) as seconds.

use std::fmt;

/// A WRF model time, stored as whole seconds since 0000-03-01 so that year 1 works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WrfTime(i64);

impl WrfTime {
    /// Builds a time from calendar fields; minutes and seconds may exceed 59 as in namelists.
    pub fn from_fields(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Option<Self> {
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if !(0..=9999).contains(&year) || hour < 0 || minute < 0 || second < 0 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(WrfTime(days * 86_400 + hour * 3600 + minute * 60 + second))
    }

    /// Parses `YYYY-MM-DD_HH:MM:SS` (also with `T` or a blank in place of `_`).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 19 || !matches!(bytes[10], b'_' | b'T' | b' ') {
            return None;
        }
        let field = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
        let fields = [field(0..4)?, field(5..7)?, field(8..10)?, field(11..13)?, field(14..16)?, field(17..19)?];
        if fields[3] > 23 || fields[4] > 59 || fields[5] > 59 {
            return None;
        }
        Self::from_fields(fields[0], fields[1], fields[2], fields[3], fields[4], fields[5])
    }

    pub fn seconds(self) -> i64 {
        self.0
    }

    pub fn add_seconds(self, seconds: i64) -> Self {
        WrfTime(self.0 + seconds)
    }

    /// Returns the current system time (UTC).
    pub fn now() -> Self {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        WrfTime(days_from_civil(1970, 1, 1) * 86_400 + unix)
    }

    /// Formats with `_` between date and time, or with every `:` as `_` when `nocolons`.
    pub fn format(self, nocolons: bool) -> String {
        let text = self.to_string();
        if nocolons {
            text.replace(':', "_")
        } else {
            text
        }
    }
}

impl fmt::Display for WrfTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let rest = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(f, "{y:04}-{m:02}-{d:02}_{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 0000-03-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_year_one() {
        let t = WrfTime::parse("0001-01-01_00:00:00").expect("valid time");
        assert_eq!(t.to_string(), "0001-01-01_00:00:00");
        assert_eq!(t.add_seconds(3600).to_string(), "0001-01-01_01:00:00");
    }

    #[test]
    fn leap_day_and_year_end() {
        let t = WrfTime::from_fields(2024, 2, 28, 23, 0, 0).expect("valid time");
        assert_eq!(t.add_seconds(3600).to_string(), "2024-02-29_00:00:00");
        let t = WrfTime::from_fields(2006, 12, 31, 23, 59, 59).expect("valid time");
        assert_eq!(t.add_seconds(1).to_string(), "2007-01-01_00:00:00");
    }

    #[test]
    fn minutes_past_59_roll_over() {
        let t = WrfTime::from_fields(1, 1, 1, 0, 120, 0).expect("valid time");
        assert_eq!(t.to_string(), "0001-01-01_02:00:00");
    }

    #[test]
    fn invalid_dates_rejected() {
        assert!(WrfTime::from_fields(2023, 2, 29, 0, 0, 0).is_none());
        assert!(WrfTime::from_fields(2023, 13, 1, 0, 0, 0).is_none());
        assert!(WrfTime::parse("2023-01-01 00:00").is_none());
    }

    #[test]
    fn nocolons_format() {
        let t = WrfTime::parse("2019-11-27_00:00:00").expect("valid time");
        assert_eq!(t.format(true), "2019-11-27_00_00_00");
    }
}
