//! Every fuzz target's committed corpus (`fuzz/corpus/TARGET`, minimised by
//! `fuzz/run.sh`), replayed through the same function the fuzzer runs: what the
//! fuzzer found stays found, on stable, in a plain `cargo test`.

#[path = "../../../fuzz/src/lib.rs"]
pub mod fuzz;

use std::path::Path;

#[test]
fn every_fuzz_corpus_replays_without_a_failure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, target) in fuzz::TARGETS {
        let dir = root.join(name);
        let inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        assert!(!inputs.is_empty(), "{name}: an empty corpus");
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            target(&data);
        }
    }
}
