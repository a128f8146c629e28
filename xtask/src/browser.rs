//! Looks at the e2e report in a real browser: Chromium from Debian, headless. The page
//! checks itself on load (every picture laid out, no script error) and writes the verdict
//! into its title, which the DOM dump shows; then a screenshot of the whole page is written
//! next to it, for people (and reviews) to look at.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use xshell::cmd;

use crate::util;

/// The tallest screenshot taken (pixels); a longer page is cut there.
const MAX_HEIGHT: u32 = 30_000;

/// What the page's own check wrote into its title: pictures drawn, pictures, height.
fn verdict(dom: &str) -> Result<(usize, usize, u32)> {
    let title = dom
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| t)
        .context("the page has no title")?;
    let Some(rest) = title.strip_prefix("report loaded: ") else {
        bail!("the page did not load cleanly: {title:?}");
    };
    let numbers: Vec<u64> = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match numbers.as_slice() {
        [drawn, all, height] => Ok((
            usize::try_from(*drawn)?,
            usize::try_from(*all)?,
            u32::try_from(*height)?,
        )),
        _ => bail!("unexpected title {title:?}"),
    }
}

/// Loads `html` in headless Chromium, checks the page's verdict, and writes `report.png`
/// beside it; returns the PNG's path.
pub fn check_report(html: &Path) -> Result<PathBuf> {
    crate::packages::ensure(&["chromium"])?;
    let _p = util::Phase::start(format!("chromium --headless {}", html.display()));
    let sh = util::shell()?;
    let url = format!("file://{}", html.canonicalize()?.display());
    // Root in a container: Chromium's sandbox needs user namespaces it may not get.
    let dom = cmd!(
        sh,
        "chromium --headless --no-sandbox --disable-gpu --virtual-time-budget=10000 --dump-dom {url}"
    )
    .quiet()
    .ignore_stderr()
    .read()
    .context("chromium --dump-dom")?;
    let (drawn, all, height) = verdict(&dom)?;
    ensure!(
        all > 0 && drawn == all,
        "report.html: {drawn} of {all} pictures were drawn"
    );
    let png = html.with_file_name("report.png");
    let _ = std::fs::remove_file(&png);
    let size = format!("--window-size=1280,{}", height.clamp(600, MAX_HEIGHT));
    let shot = format!("--screenshot={}", png.display());
    cmd!(
        sh,
        "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars {size} {shot} {url}"
    )
    .quiet()
    .ignore_stderr()
    .ignore_stdout()
    .run()
    .context("chromium --screenshot")?;
    let written = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    ensure!(
        written > 0,
        "chromium wrote no screenshot at {}",
        png.display()
    );
    eprintln!(
        "report.html loads in Chromium: {drawn} of {all} pictures drawn; screenshot {} ({written} bytes)",
        png.display()
    );
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_is_the_verdict() {
        let ok = "<html><head><title>report loaded: 20 of 20 pictures drawn; 10234px high</title>";
        assert_eq!(verdict(ok).ok(), Some((20, 20, 10234)));
        let error = "<title>report error: Uncaught ReferenceError: x</title>";
        assert!(verdict(error).is_err());
        assert!(
            verdict("<title>End-to-end report</title>").is_err(),
            "the check never ran"
        );
    }
}
