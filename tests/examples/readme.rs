//! The README's first example, built the way a user pastes it: its dependency block
//! and its code in a fresh project (`tendril-net = "0.1"` pointed at this checkout).
//!
//! It checks tokio and the crate once more (`cargo check`: type-checked, no code
//! generated, which is what "does it build as pasted" needs and half the time of a
//! build; in `target/readme-example`, then only the crate). The code itself is also a
//! doc test (`ReadmeDoctests`), so this checks what a doc test cannot: that the
//! dependency block alone is enough.

use std::path::Path;
use std::process::Command;

/// The body of the first fenced block whose info string starts with `lang`, and the
/// rest of the text after it.
fn first_block<'a>(text: &'a str, lang: &str) -> (&'a str, &'a str) {
    let fence = format!("```{lang}");
    let start = text
        .find(&fence)
        .unwrap_or_else(|| panic!("no {fence} block in README.md"));
    let body = &text[start..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    let end = body.find("\n```").expect("closing fence");
    (&body[..end + 1], &body[end..])
}

#[test]
fn the_first_example_builds_with_the_dependency_block_alone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (deps, rest) = first_block(&readme, "toml");
    let (code, _) = first_block(rest, "rust");
    assert!(deps.starts_with("[dependencies]\n"), "{deps}");
    assert_eq!(
        deps.matches("tendril-net").count(),
        1,
        "one tendril-net line: {deps}"
    );
    let deps = deps.replace(
        "tendril-net = \"0.1\"",
        &format!(
            "tendril-net = {{ path = {:?} }}",
            root.display().to_string()
        ),
    );
    assert!(
        deps.contains("path ="),
        "the block names tendril-net = \"0.1\": {deps}"
    );
    let project = std::env::temp_dir().join(format!("tendril-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        format!(
            "[package]\nname = \"readme-example\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n{deps}"
        ),
    )
    .unwrap();
    std::fs::write(project.join("src/main.rs"), code).unwrap();
    // Its own target directory: the workspace's is locked by the running `cargo test`.
    let target = root.join("target").join("readme-example");
    let output = Command::new(env!("CARGO"))
        .args(["check", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-D warnings")
        .current_dir(&project)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&project);
    assert!(
        output.status.success(),
        "the README's first example does not build as pasted:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
