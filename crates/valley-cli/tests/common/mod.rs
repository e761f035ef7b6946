//! Helpers shared by the end-to-end tests: run the real `valley` binary and check its outcome.
//!
//! Each test file includes this with `mod common;`; not every file uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `valley ARGS` in quiet (CI) mode.
pub fn valley(args: &[&str]) -> Output {
    valley_in(args, None)
}

/// Runs `valley ARGS` with the working directory `cwd` when given.
pub fn valley_in(args: &[&str], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_valley"));
    cmd.args(args).env("CI", "1");
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.output().expect("the valley binary runs")
}

/// Runs `valley ARGS`, asserts success, and returns stdout followed by stderr.
pub fn ok(args: &[&str]) -> String {
    let out = valley(args);
    let (so, se) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "valley {args:?} failed:\n{so}\n{se}");
    format!("{so}{se}")
}

/// Asserts that `valley ARGS` fails cleanly: non-zero exit, stderr mentioning `needle`, no panic.
pub fn fails(args: &[&str], needle: &str) -> String {
    let out = valley(args);
    let se = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "valley {args:?} should fail");
    assert_ne!(out.status.code(), Some(101), "valley {args:?} panicked:\n{se}");
    assert!(!se.contains("panicked"), "valley {args:?} panicked:\n{se}");
    assert!(se.contains(needle), "stderr of {args:?} should mention `{needle}`:\n{se}");
    se
}

/// The Fashion-MNIST folder. The setup script installs the dataset, so a missing folder is a
/// failed test with the fix in its message, never a silent pass.
pub fn fashion_mnist() -> PathBuf {
    let dir = std::env::var_os("VALLEY_FASHION_MNIST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("VALLEY_DATA_DIR").map(|d| PathBuf::from(d).join("fashion-mnist")))
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    assert!(
        dir.join("train-images-idx3-ubyte.gz").exists() || dir.join("train-images-idx3-ubyte").exists(),
        "Fashion-MNIST not found in {}: run scripts/setup.sh (installs the Debian package \
         dataset-fashion-mnist) or set VALLEY_FASHION_MNIST_DIR",
        dir.display()
    );
    dir
}

/// Parses a JSON file the binary wrote.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
