//! Every example answers `--help` with its usage line and a sentence per flag, `--log`
//! among them, and refuses an unknown flag pointing at `--help`.

use std::process::Command;

use crate::support;

/// The examples, by their files: one added later is checked too.
fn examples() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_example_answers_help_and_refuses_unknown_flags() {
    let names = examples();
    assert!(names.len() >= 15, "{names:?}");
    for name in names {
        let output = Command::new(support::example(&name))
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8(output.stdout).unwrap();
        assert_eq!(output.status.code(), Some(0), "{name} --help: {help}");
        assert!(help.starts_with(&format!("usage: {name} ")), "{help}");
        assert!(help.contains("\n  --log LEVEL "), "{name}: {help}");
        assert!(help.contains("\n  --help "), "{name}: {help}");

        let output = Command::new(support::example(&name))
            .arg("--no-such-flag")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{name} --no-such-flag");
        assert_eq!(
            String::from_utf8(output.stderr).unwrap(),
            format!("{name}: unknown flag `--no-such-flag`\n(see `{name} --help`)\n")
        );
    }
}
