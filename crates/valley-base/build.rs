//! Sets `VALLEY_GIT_REVISION` to `git rev-parse --short HEAD`, with `-dirty` appended when the
//! work tree has uncommitted changes, or to "unknown" when git or the repository is absent
//! (a source tarball). The value is recorded in every run's metadata.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let revision = match git(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) if !rev.is_empty() => {
            // Untracked files do not make a build dirty: only changes to tracked files do.
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{rev}-dirty")
            } else {
                rev
            }
        }
        _ => "unknown".to_string(),
    };
    println!("cargo:rustc-env=VALLEY_GIT_REVISION={revision}");
    // Re-run when a commit is made or the branch changes. The index is not watched: git
    // rewrites it on every `git status`, which would rebuild the whole workspace each time,
    // so `-dirty` reflects the tree as it was at the last commit or checkout seen by a build.
    // A watched path that does not exist would re-run the script on every build, so only
    // existing files are named (a packed branch ref lives in `packed-refs`).
    let mut watched = Vec::new();
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        watched.push(dir.join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]).map(PathBuf::from) {
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(common.join(head_ref));
        }
        watched.push(common.join("packed-refs"));
    }
    for path in watched.iter().filter(|p| p.is_file()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
