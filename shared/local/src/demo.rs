//! `cloudrun demo`: starts a private server, then takes a real WRF case
//! through create, upload, start, progress, done and the output list over
//! HTTP, printing what a user of the API would read.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BUNDLED_NAMELIST: &[u8] = include_bytes!("../../../examples/em_quarter_ss/namelist.input");
const BUNDLED_SOUNDING: &[u8] = include_bytes!("../../../examples/em_quarter_ss/input_sounding");

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Folder with a case's namelist.input and other inputs (default: the bundled em_quarter_ss).
    #[arg(long)]
    case: Option<PathBuf>,
    /// Cores to start the run on (must be one of its compute options).
    #[arg(long, default_value_t = 2)]
    cores: i64,
    /// WRF version to ask for.
    #[arg(long, default_value = "4.7.1")]
    version: String,
    /// Data folder of the private server (default: a new temporary folder, removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Stops the private server when the demo ends, however it ends.
struct ServerGuard(Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn case_files(args: &DemoArgs) -> Result<Vec<(String, Vec<u8>)>, String> {
    let Some(dir) = &args.case else {
        return Ok(vec![
            ("namelist.input".into(), BUNDLED_NAMELIST.to_vec()),
            ("input_sounding".into(), BUNDLED_SOUNDING.to_vec()),
        ]);
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && !name.starts_with('.') && name != "README.md" {
            files.push((name, std::fs::read(entry.path()).map_err(|e| e.to_string())?));
        }
    }
    // The namelist goes first: it decides which other files the run needs.
    files.sort_by_key(|(name, _)| (name != "namelist.input", name.clone()));
    Ok(files)
}

fn start_server(program: &PathBuf, data_dir: &std::path::Path) -> Result<(ServerGuard, String), String> {
    let mut child = Command::new(program)
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start cloudrun serve: {e}"))?;
    let stdout = child.stdout.take().ok_or("no server output")?;
    let guard = ServerGuard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
    let url = line.trim().strip_prefix("cloudrun listening on ").ok_or_else(|| format!("unexpected server output: {line}"))?;
    Ok((guard, url.to_string()))
}

fn create_token(program: &PathBuf, data_dir: &std::path::Path) -> Result<String, String> {
    let output = Command::new(program)
        .args(["token", "create", "--user", "demo", "--data-dir"])
        .arg(data_dir)
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("token create failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

async fn check(response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("invalid JSON response: {e}"))?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", body["error"]["message"].as_str().unwrap_or("")));
    }
    Ok(body)
}

pub async fn run(args: DemoArgs) -> Result<(), String> {
    let files = case_files(&args)?;
    let temporary = tempdir()?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| temporary.clone());
    let program = std::env::current_exe().map_err(|e| e.to_string())?;
    let (_server, url) = start_server(&program, &data_dir)?;
    let token = create_token(&program, &data_dir)?;
    let removal_note = if args.data_dir.is_some() { "" } else { ", temporary: removed at the end" };
    println!("server   {url} (data in {}{removal_note})", data_dir.display());
    let client = reqwest::Client::new();
    let api = format!("{url}/v1/wrf");
    let auth = format!("Bearer {token}");

    let run = check(client.post(&api).header("Authorization", &auth).form(&[("version", &args.version)]).send().await.map_err(|e| e.to_string())?).await?;
    let id = run["id"].as_str().ok_or("no run id")?.to_string();
    println!("created  run {id}: status {}, needs {}", run["status"], run["required_input_files"]);

    for (name, bytes) in files {
        let size = bytes.len();
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.clone());
        let form = reqwest::multipart::Form::new().part("file", part);
        let answer = check(client.post(format!("{api}/{id}/upload")).header("Authorization", &auth).multipart(form).send().await.map_err(|e| e.to_string())?).await?;
        println!("uploaded {name} ({size} bytes) as file {}", answer["fileid"].as_str().unwrap_or("?"));
    }

    let run = check(client.get(format!("{api}/{id}")).header("Authorization", &auth).send().await.map_err(|e| e.to_string())?).await?;
    print_model(&run);

    let run = check(client.post(format!("{api}/{id}/start")).header("Authorization", &auth).form(&[("cores", args.cores.to_string())]).send().await.map_err(|e| e.to_string())?).await?;
    println!("started  on {} cores, engine {}", run["cores"], run["engine"]);
    if run["engine"] == "dry-run" {
        println!("         (no WRF build configured: the dry-run engine imitates WRF's output; set WRF_DIR to run the model)");
    }

    let started = Instant::now();
    let mut last_line = String::new();
    let run = loop {
        let run = check(client.get(format!("{api}/{id}")).header("Authorization", &auth).send().await.map_err(|e| e.to_string())?).await?;
        let line = format!(
            "progress {:>7} {:>6} %  remaining {:>5} s  outputs {}",
            run["status"].as_str().unwrap_or("?"),
            run["percent_complete"].as_f64().map(|p| format!("{p:.1}")).unwrap_or("-".into()),
            run["remaining_time"].as_i64().map(|s| s.to_string()).unwrap_or("-".into()),
            run["output_files"].as_array().map(Vec::len).unwrap_or(0)
        );
        if line != last_line {
            println!("{line}");
            last_line = line;
        }
        if matches!(run["status"].as_str(), Some("done" | "error" | "stopped")) {
            break run;
        }
        if started.elapsed() > Duration::from_secs(3600) {
            return Err("the run did not finish within an hour".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    println!("finished status {} after {:.0} s", run["status"], started.elapsed().as_secs_f64());
    if run["status"] != "done" {
        println!("error    {}", run["error"]);
    }
    println!("outputs  ({} bytes in all)", run["output_size"]);
    for file in run["output_files"].as_array().into_iter().flatten() {
        println!("         {:<40} {:>10} bytes", file["filename"].as_str().unwrap_or("?"), file["size"]);
    }
    if let Some(first) = run["output_files"].as_array().and_then(|f| f.iter().find(|f| f["filename"].as_str().is_some_and(|n| n.starts_with("wrfout")))) {
        let name = first["filename"].as_str().unwrap_or_default();
        let response = client.get(format!("{api}/{id}/output/{name}")).header("Authorization", &auth).send().await.map_err(|e| e.to_string())?;
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        let format = if bytes.starts_with(b"CDF") {
            "netCDF classic"
        } else if bytes.starts_with(b"\x89HDF") {
            "netCDF-4 (HDF5)"
        } else {
            "not netCDF"
        };
        println!("download {name}: {} bytes, {format}", bytes.len());
    }
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&temporary);
    }
    if run["status"] == "done" {
        Ok(())
    } else {
        Err(format!("run ended as {}", run["status"]))
    }
}

fn print_model(run: &Value) {
    let model = &run["model"];
    println!(
        "ready    status {}: {} domain(s), shape [e_vert, e_sn, e_we] {}, dt {} s, dx {} m, {} .. {}, output every {} min",
        run["status"], model["domains"], model["domain_shape"], model["dt"], model["dx"], model["start_time"][0].as_str().unwrap_or("?"),
        model["end_time"][0].as_str().unwrap_or("?"), model["output_interval"]
    );
    println!("         required inputs {}", run["required_input_files"]);
    println!("         compute options (cores, estimated time, estimated cost):");
    for option in run["compute_options"].as_array().into_iter().flatten() {
        println!("           {:>6} cores  {:>7} s  ${}", option["cores"].to_string(), option["time"].to_string(), option["cost"]);
    }
}

fn tempdir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("cloudrun-demo-{}", hex::encode(rand::random::<[u8; 6]>())));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
