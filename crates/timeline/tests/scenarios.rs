//! Every end-to-end scenario's recorded timeline (`tests/scenarios/*.json`, saved by
//! `cargo xtask e2e` beside each scenario's SVG) renders with no label over another and
//! none cut. The e2e run checks the same on every run's fresh data; these are the ones of a
//! real run on the local cluster, kept so that a change to the layout is checked against
//! real updates without a cluster.

use std::path::Path;

#[test]
fn every_recorded_scenario_renders_readably() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    assert!(
        files.len() >= 15,
        "only {} recorded scenarios in {}",
        files.len(),
        dir.display()
    );
    let mut bad = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let timeline: timeline::Timeline = match serde_json::from_str(&text) {
            Ok(t) => t,
            Err(e) => {
                bad.push(format!("{}: {e}", file.display()));
                continue;
            }
        };
        let picture = timeline::render(&timeline);
        for problem in picture.problems() {
            bad.push(format!("{}: {problem}", file.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
