//! A WRF build folder for tests whose wrf.exe is a real MPI program (tests/fixtures/mpi/fake_wrf.c,
//! compiled with mpicc), and a launcher script that lets mpirun start "remote" nodes on this machine.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Returns the repository's root folder.
pub fn repository() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("tests/fixtures").exists() {
        assert!(dir.pop(), "tests/fixtures not found above {}", env!("CARGO_MANIFEST_DIR"));
    }
    dir
}

/// Builds `root/wrf` (replaying the real em_quarter_ss log over `seconds`) and `root/launch-agent.sh`,
/// which records each host in `root/agent.log` and starts Open MPI's daemon locally.
pub fn mpi_build(root: &Path, seconds: f64) -> (PathBuf, PathBuf) {
    let binary = root.join("fake_wrf");
    let source = repository().join("tests/fixtures/mpi/fake_wrf.c");
    let status = Command::new("mpicc").arg("-o").arg(&binary).arg(&source).status().expect("mpicc is installed (libopenmpi-dev)");
    assert!(status.success(), "mpicc failed");

    let build = root.join("wrf");
    std::fs::create_dir_all(build.join("main")).expect("main");
    std::fs::create_dir_all(build.join("run")).expect("run");
    std::fs::write(build.join("run/RRTMG_LW_DATA"), b"table").expect("table");
    let log = repository().join("tests/fixtures/em_quarter_ss/rsl.out.0000");
    write_script(&build.join("main/wrf.exe"), &format!("#!/bin/sh\nexec {} {} {seconds}\n", binary.display(), log.display()));
    write_script(&build.join("main/ideal.exe"), "#!/bin/sh\necho fake > wrfinput_d01\n");

    let agent = root.join("launch-agent.sh");
    let text = format!(
        "#!/bin/sh\necho \"$1\" >> {}\nwhile [ \"${{1#-}}\" != \"$1\" ]; do shift; done\nshift\nexec sh -c \"$*\"\n",
        root.join("agent.log").display()
    );
    write_script(&agent, &text);
    (build, agent)
}

/// mpirun arguments that use the launcher and keep MPI traffic on loopback.
pub fn mpirun_args(agent: &Path) -> Vec<String> {
    ["--mca", "plm_rsh_agent", &agent.display().to_string(), "--mca", "oob_tcp_if_include", "lo", "--mca", "btl_tcp_if_include", "lo"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn write_script(path: &Path, text: &str) {
    std::fs::write(path, text).expect("script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
