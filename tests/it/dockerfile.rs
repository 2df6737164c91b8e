//! The Dockerfile builds: what its `COPY` lines bring into the builder stage is enough for cargo
//! to read the manifest (a declared bench once was not), checked without a Docker engine.

use std::path::Path;
use std::process::Command;

use support::copy_tree;

use crate::ROOT;

fn dockerfile() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("Dockerfile")).expect("read Dockerfile")
}

/// The sources of every `COPY` in the builder stage that copies from the build context.
fn copied_from_context(dockerfile: &str) -> Vec<String> {
    let builder = dockerfile
        .split("\nFROM ")
        .find(|stage| stage.contains(" AS builder"))
        .expect("a builder stage");
    builder
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|args| !args.starts_with("--"))
        .flat_map(|args| {
            let words: Vec<&str> = args.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `cargo fetch` loads the whole package, every declared target included (`cargo metadata` does
/// not check target paths), and with `--offline` and the host target it only needs the local
/// registry cache the suite's own build already filled.
fn cargo_fetch(dir: &Path) -> std::process::Output {
    let rustc = Command::new("rustc").arg("-vV").output().expect("run rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc names its host");
    Command::new(env!("CARGO"))
        .args(["fetch", "--locked", "--offline", "--target", &host])
        .current_dir(dir)
        .output()
        .expect("run cargo fetch")
}

#[test]
fn the_builder_stage_copies_everything_cargo_needs() {
    let sources = copied_from_context(&dockerfile());
    assert!(sources.contains(&"Cargo.toml".to_string()), "{sources:?}");
    let dir = tempfile::tempdir().unwrap();
    for source in &sources {
        copy_tree(&Path::new(ROOT).join(source), &dir.path().join(source));
    }
    let out = cargo_fetch(dir.path());
    assert!(
        out.status.success(),
        "cargo cannot load exactly what the Dockerfile copies ({sources:?}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_dependency_layer_loads_from_the_manifests_and_its_stubs() {
    // The dependency layer builds from the files its COPY lines bring plus the stub files its
    // first RUN creates (`touch a b`, `> file`): each declared target and workspace member
    // needs its stub, or cargo refuses the manifest.
    let dockerfile = dockerfile();
    let builder = dockerfile
        .split("\nFROM ")
        .find(|stage| stage.contains(" AS builder"))
        .expect("a builder stage");
    let layer = builder.split("\nRUN mkdir").next().unwrap().to_string() + "\n";
    let run = builder
        .split("\nRUN mkdir")
        .nth(1)
        .expect("the stub RUN")
        .split("\n\n")
        .next()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for source in copied_from_context(&format!("x AS builder\n{layer}")) {
        copy_tree(&Path::new(ROOT).join(&source), &dir.path().join(&source));
    }
    let words: Vec<&str> = run.split_whitespace().collect();
    let mut stubs = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if *w == ">" {
            stubs.push(words[i + 1].to_string());
        }
        if *w == "touch" {
            stubs.extend(
                words[i + 1..]
                    .iter()
                    .take_while(|w| **w != "\\" && **w != "&&")
                    .map(|w| w.to_string()),
            );
        }
    }
    assert!(stubs.iter().any(|s| s == "src/main.rs"), "{stubs:?}");
    for stub in stubs {
        let path = dir.path().join(stub);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "fn main() {}\n").unwrap();
    }
    let out = cargo_fetch(dir.path());
    assert!(
        out.status.success(),
        "cargo cannot load the dependency layer:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
