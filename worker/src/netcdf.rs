//! A writer for netCDF classic (CDF-1) history files with WRF's dimensions,
//! used by the dry-run engine. Records hold `Times` and `XTIME` only.
//!
//! Format: <https://docs.unidata.ucar.edu/netcdf-c/current/file_format_specifications.html>.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

const NC_DIMENSION: u32 = 0x0A;
const NC_VARIABLE: u32 = 0x0B;
const NC_ATTRIBUTE: u32 = 0x0C;
const NC_CHAR: u32 = 2;
const NC_INT: u32 = 4;
const NC_FLOAT: u32 = 5;
const DATE_LENGTH: usize = 19;
/// Bytes of `Times` in one record: 19 characters padded to a multiple of 4.
const TIMES_BYTES: u64 = 20;
const RECORD_BYTES: u64 = TIMES_BYTES + 4;

/// A global attribute value.
pub enum Attribute {
    Text(String),
    Int(i32),
    Float(f32),
}

/// Grid sizes as written in the namelist (staggered counts).
pub struct Grid {
    pub e_we: u32,
    pub e_sn: u32,
    pub e_vert: u32,
}

/// An open history file that frames are appended to.
pub struct HistoryFile {
    file: File,
    header_bytes: u64,
    frames: u32,
}

fn put_u32(buffer: &mut Vec<u8>, value: u32) {
    buffer.extend_from_slice(&value.to_be_bytes());
}

fn pad(buffer: &mut Vec<u8>) {
    while buffer.len() % 4 != 0 {
        buffer.push(0);
    }
}

fn put_name(buffer: &mut Vec<u8>, name: &str) {
    put_u32(buffer, name.len() as u32);
    buffer.extend_from_slice(name.as_bytes());
    pad(buffer);
}

fn put_attributes(buffer: &mut Vec<u8>, attributes: &[(&str, Attribute)]) {
    if attributes.is_empty() {
        put_u32(buffer, 0);
        put_u32(buffer, 0);
        return;
    }
    put_u32(buffer, NC_ATTRIBUTE);
    put_u32(buffer, attributes.len() as u32);
    for (name, value) in attributes {
        put_name(buffer, name);
        match value {
            Attribute::Text(text) => {
                put_u32(buffer, NC_CHAR);
                put_u32(buffer, text.len() as u32);
                buffer.extend_from_slice(text.as_bytes());
            }
            Attribute::Int(v) => {
                put_u32(buffer, NC_INT);
                put_u32(buffer, 1);
                buffer.extend_from_slice(&v.to_be_bytes());
            }
            Attribute::Float(v) => {
                put_u32(buffer, NC_FLOAT);
                put_u32(buffer, 1);
                buffer.extend_from_slice(&v.to_be_bytes());
            }
        }
        pad(buffer);
    }
}

impl HistoryFile {
    /// Creates the file with WRF's dimensions, `attributes` as globals, and no frames yet.
    pub fn create(path: &Path, grid: &Grid, attributes: &[(&str, Attribute)], xtime_units: &str) -> std::io::Result<Self> {
        let dimensions = [
            ("Time", 0),
            ("DateStrLen", DATE_LENGTH as u32),
            ("west_east", grid.e_we - 1),
            ("south_north", grid.e_sn - 1),
            ("bottom_top", grid.e_vert - 1),
            ("bottom_top_stag", grid.e_vert),
            ("west_east_stag", grid.e_we),
            ("south_north_stag", grid.e_sn),
        ];
        let mut header = Vec::new();
        header.extend_from_slice(b"CDF\x01");
        put_u32(&mut header, 0);
        put_u32(&mut header, NC_DIMENSION);
        put_u32(&mut header, dimensions.len() as u32);
        for (name, length) in dimensions {
            put_name(&mut header, name);
            put_u32(&mut header, length);
        }
        put_attributes(&mut header, attributes);

        // The variable list ends with two begin offsets that depend on the header's own length.
        let mut variables = Vec::new();
        put_u32(&mut variables, NC_VARIABLE);
        put_u32(&mut variables, 2);
        put_name(&mut variables, "Times");
        put_u32(&mut variables, 2);
        put_u32(&mut variables, 0);
        put_u32(&mut variables, 1);
        put_attributes(&mut variables, &[]);
        put_u32(&mut variables, NC_CHAR);
        put_u32(&mut variables, TIMES_BYTES as u32);
        let times_begin_at = variables.len();
        put_u32(&mut variables, 0);
        put_name(&mut variables, "XTIME");
        put_u32(&mut variables, 1);
        put_u32(&mut variables, 0);
        put_attributes(
            &mut variables,
            &[
                ("units", Attribute::Text(xtime_units.to_string())),
                ("description", Attribute::Text(xtime_units.to_string())),
            ],
        );
        put_u32(&mut variables, NC_FLOAT);
        put_u32(&mut variables, 4);
        let xtime_begin_at = variables.len();
        put_u32(&mut variables, 0);

        let header_bytes = (header.len() + variables.len()) as u64;
        variables[times_begin_at..times_begin_at + 4].copy_from_slice(&(header_bytes as u32).to_be_bytes());
        variables[xtime_begin_at..xtime_begin_at + 4]
            .copy_from_slice(&((header_bytes + TIMES_BYTES) as u32).to_be_bytes());
        header.extend_from_slice(&variables);

        let mut file = File::create(path)?;
        file.write_all(&header)?;
        file.flush()?;
        Ok(HistoryFile { file, header_bytes, frames: 0 })
    }

    /// Appends one frame: its `Times` string and `XTIME` in minutes since the simulation start.
    pub fn append(&mut self, time: &str, xtime_minutes: f32) -> std::io::Result<()> {
        let mut record = [0u8; RECORD_BYTES as usize];
        let length = time.len().min(DATE_LENGTH);
        record[..length].copy_from_slice(&time.as_bytes()[..length]);
        record[TIMES_BYTES as usize..].copy_from_slice(&xtime_minutes.to_be_bytes());
        let offset = self.header_bytes + u64::from(self.frames) * RECORD_BYTES;
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.write_all(&record)?;
        self.frames += 1;
        self.file.seek(SeekFrom::Start(4))?;
        self.file.write_all(&self.frames.to_be_bytes())?;
        self.file.flush()
    }

    pub fn frames(&self) -> u32 {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ncdump_reads_dimensions_and_times() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wrfout_d01_0001-01-01_00:00:00");
        let grid = Grid { e_we: 42, e_sn: 42, e_vert: 41 };
        let attributes = [("TITLE", Attribute::Text("dry run".into())), ("DX", Attribute::Float(2000.0)), ("GRID_ID", Attribute::Int(1))];
        let mut file = HistoryFile::create(&path, &grid, &attributes, "minutes since 0001-01-01 00:00:00").expect("create");
        file.append("0001-01-01_00:00:00", 0.0).expect("frame 1");
        file.append("0001-01-01_00:30:00", 30.0).expect("frame 2");

        let output = std::process::Command::new("ncdump").arg(&path).output().expect("ncdump is installed (netcdf-bin)");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "ncdump failed: {}", String::from_utf8_lossy(&output.stderr));
        assert!(text.contains("Time = UNLIMITED ; // (2 currently)"), "{text}");
        assert!(text.contains("west_east = 41 ;"), "{text}");
        assert!(text.contains("bottom_top_stag = 41 ;"), "{text}");
        assert!(text.contains("\"0001-01-01_00:30:00\""), "{text}");
        assert!(text.contains("XTIME = 0, 30 ;"), "{text}");
        assert!(text.contains(":DX = 2000.f ;"), "{text}");
    }
}
