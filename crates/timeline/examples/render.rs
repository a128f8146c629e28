//! Renders a timeline saved as JSON (as `cargo xtask e2e` saves each scenario's, beside its
//! SVG) to an SVG on stdout: `cargo run -p timeline --example render -- FILE.json`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: render FILE.json");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: reading {path}: {e}");
            return ExitCode::from(1);
        }
    };
    let timeline: timeline::Timeline = match serde_json::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {path} is not a timeline: {e}");
            return ExitCode::from(1);
        }
    };
    let picture = timeline::render(&timeline);
    for problem in picture.problems() {
        eprintln!("warning: {problem}");
    }
    print!("{}", picture.svg);
    ExitCode::SUCCESS
}
