//! Logs carry ANSI colour only for a person at a terminal: never into the journal, a pipe or a
//! file, and never when NO_COLOR is set.

use std::process::Command;

use crate::ROOT;

const ESC: char = '\u{1b}';

fn demo_args() -> [&'static str; 4] {
    ["--once", "--config", "config/demo.toml", "--env"]
}

#[test]
fn logs_to_a_pipe_have_no_escape_codes() {
    let out = Command::new(env!("CARGO_BIN_EXE_driftwatch"))
        .args(demo_args())
        .arg("production")
        .current_dir(ROOT)
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .output()
        .expect("run driftwatch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INFO"), "the audit logged at info: {stderr}");
    assert!(!stderr.contains(ESC), "escape codes in piped logs: {stderr:?}");
}

/// Runs the demo audit with stderr on a pseudo-terminal (util-linux `script`).
fn on_a_terminal(no_color: Option<&str>) -> String {
    let command = format!(
        "{} {} production",
        env!("CARGO_BIN_EXE_driftwatch"),
        demo_args().join(" ")
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"])
        .current_dir(ROOT)
        .env("RUST_LOG", "info");
    match no_color {
        Some(v) => cmd.env("NO_COLOR", v),
        None => cmd.env_remove("NO_COLOR"),
    };
    let out = cmd.output().expect("run script (util-linux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    let coloured = on_a_terminal(None);
    assert!(coloured.contains("INFO"), "{coloured}");
    assert!(coloured.contains(ESC), "a terminal should get colour: {coloured:?}");
    let plain = on_a_terminal(Some("1"));
    assert!(plain.contains("INFO"), "{plain}");
    assert!(!plain.contains(ESC), "NO_COLOR=1 still coloured: {plain:?}");
}
