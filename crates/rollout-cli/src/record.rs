//! `--timeline` and `--probe`: the update as this command saw it, drawn when it ends.
//!
//! The engine already watches the pods and reports every step as events; the recording
//! keeps them with their time: each `Progress` (both controllers' counts) becomes a pod
//! snapshot, each step line a mark, each warning and the final error a failure signal.
//! `--probe` runs the tutorial's curl loop (the `traffic-probe` crate, at `--probe-rate`
//! requests a second) for exactly as long as the command runs. However the command ends
//! (done, an error, Ctrl-C), the picture is written before it exits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rollout_engine::{EngineError, Event};
use timeline::{Answer, Mark, MarkKind, PodCount, PodSnapshot, Timeline};
use traffic_probe::{ProbeConfig, Sample, StopHandle};

use crate::args::TimelineArgs;

/// The most requests a second `--probe` may send.
const MAX_RATE: f64 = 100.0;
/// How long a probe may run at the most, whatever the command does.
const MAX_PROBE: Duration = Duration::from_secs(24 * 3600);

/// Where `--probe` sends its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUrl {
    /// Host name or address.
    pub host: String,
    /// Port (80 unless given).
    pub port: u16,
    /// Path with query, at least `/`.
    pub path: String,
}

impl ProbeUrl {
    /// `http://HOST[:PORT][/PATH]`; https and anything else is refused.
    pub fn parse(url: &str) -> Result<ProbeUrl, EngineError> {
        let bad = |why: &str| EngineError::Usage(format!("invalid --probe URL {url:?}: {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http://HOST[:PORT][/PATH] is supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => 80,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port must be 1-65535"))?,
        };
        Ok(ProbeUrl {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }
}

/// What one command records for its timeline.
pub struct Recording {
    started: Instant,
    file: PathBuf,
    probe: Option<(ProbeUrl, f64)>,
    timeline: Mutex<Timeline>,
    running: Mutex<Option<Running>>,
}

/// A probe in flight: how to stop it, its samples, and when it started.
struct Running {
    stop: StopHandle,
    samples: tokio::task::JoinHandle<Vec<Sample>>,
    since: Duration,
}

impl Recording {
    /// The recording `args` ask for (`None` without `--timeline`), checked before anything
    /// runs: a bad URL or rate is a usage error.
    pub fn new(args: &TimelineArgs, title: &str) -> Result<Option<Recording>, EngineError> {
        let Some(file) = &args.timeline else {
            return Ok(None);
        };
        // A file that cannot be written is refused now, not after the update.
        std::fs::File::create(file)
            .map_err(|e| EngineError::Usage(format!("--timeline {}: {e}", file.display())))?;
        let probe = match &args.probe {
            Some(url) => {
                if !(args.probe_rate > 0.0 && args.probe_rate <= MAX_RATE) {
                    return Err(EngineError::Usage(format!(
                        "--probe-rate must be above 0 and at most {MAX_RATE}"
                    )));
                }
                Some((ProbeUrl::parse(url)?, args.probe_rate))
            }
            None => None,
        };
        Ok(Some(Recording {
            started: Instant::now(),
            file: file.clone(),
            probe,
            timeline: Mutex::new(Timeline {
                title: title.to_owned(),
                ..Timeline::default()
            }),
            running: Mutex::new(None),
        }))
    }

    /// Starts `--probe`, if asked: resolves the host first, so a name that does not resolve
    /// stops the command before it changes anything.
    pub async fn start(&self) -> Result<(), EngineError> {
        let Some((url, rate)) = &self.probe else {
            return Ok(());
        };
        let target: SocketAddr = tokio::net::lookup_host((url.host.as_str(), url.port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| EngineError::Usage(format!("--probe: cannot resolve {}", url.host)))?;
        let mut config = ProbeConfig::new(target);
        config.path.clone_from(&url.path);
        config.rate = *rate;
        config.max_duration = MAX_PROBE;
        config.max_requests = (rate * MAX_PROBE.as_secs_f64()) as u64;
        let since = self.started.elapsed();
        let (stop, samples) = traffic_probe::start(config);
        *lock(&self.running) = Some(Running {
            stop,
            samples,
            since,
        });
        Ok(())
    }

    /// Keeps what `event` says about the update.
    pub fn record(&self, event: &Event) {
        let at = self.started.elapsed().as_secs_f64();
        let mut t = lock(&self.timeline);
        match event {
            Event::Progress(p) => {
                let count = |s: &rollout_plan::Side| PodCount {
                    ready: s.available,
                    live: s.current,
                };
                let groups = [
                    (p.old_name.clone(), count(&p.old)),
                    (p.new_name.clone(), count(&p.new)),
                ]
                .into_iter()
                .collect();
                if t.pods.last().map(|last| &last.groups) != Some(&groups) {
                    t.pods.push(PodSnapshot { at, groups });
                }
            }
            Event::Line(line) => {
                if let Some(label) = timeline::step_label(line) {
                    t.marks.push(Mark {
                        at,
                        label,
                        kind: MarkKind::Step,
                    });
                }
            }
            Event::Warning(text) => t.marks.push(Mark {
                at,
                label: format!("warning: {text}"),
                kind: MarkKind::Signal,
            }),
            Event::Waiting(_) | Event::Retrying { .. } => {}
        }
    }

    /// Stops the probe, adds how the command ended, and writes the picture. Returns the
    /// line to print on stderr.
    pub async fn finish(&self, result: &Result<(), EngineError>) -> Result<String, String> {
        let at = self.started.elapsed().as_secs_f64();
        let running = lock(&self.running).take();
        let samples = match running {
            Some(r) => {
                r.stop.stop();
                let since = r.since;
                let samples = r.samples.await.unwrap_or_default();
                samples
                    .into_iter()
                    .map(|s| Answer {
                        at: (since + s.at).as_secs_f64(),
                        outcome: timeline::Outcome::of(s.status, s.version.as_deref()),
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        let mut t = lock(&self.timeline).clone();
        t.answers = samples;
        if let Err(e) = result {
            let label = if e.is_interrupted() {
                "interrupted (Ctrl-C)".to_owned()
            } else {
                format!("error: {e}")
            };
            t.marks.push(Mark {
                at,
                label,
                kind: MarkKind::Signal,
            });
        }
        let failed = t
            .answers
            .iter()
            .filter(|a| !matches!(a.outcome, timeline::Outcome::Version(_)))
            .count();
        let picture = timeline::render(&t);
        std::fs::write(&self.file, &picture.svg)
            .map_err(|e| format!("writing the timeline {}: {e}", self.file.display()))?;
        let probe = if self.probe.is_some() {
            format!(
                ", {} requests, {failed} without a good answer",
                t.answers.len()
            )
        } else {
            String::new()
        };
        Ok(format!(
            "timeline written to {} ({} steps{probe})",
            self.file.display(),
            t.marks.iter().filter(|m| m.kind == MarkKind::Step).count()
        ))
    }
}

/// A poisoned lock still holds what was recorded: use it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_urls() {
        let u = ProbeUrl::parse("http://127.0.0.1:30002/").ok();
        assert_eq!(
            u,
            Some(ProbeUrl {
                host: "127.0.0.1".into(),
                port: 30002,
                path: "/".into()
            })
        );
        let u = ProbeUrl::parse("http://localhost").ok();
        assert_eq!(u.map(|u| (u.port, u.path)), Some((80, "/".to_owned())));
        let u = ProbeUrl::parse("http://[::1]:8080/x?y=1").ok();
        assert_eq!(
            u.map(|u| (u.host, u.port, u.path)),
            Some(("::1".to_owned(), 8080, "/x?y=1".to_owned()))
        );
        for bad in [
            "https://h/",
            "h:80",
            "http://:80/",
            "http://h:0/",
            "http://h:99999/",
        ] {
            assert!(ProbeUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_become_pods_steps_and_signals() {
        let unwritable = TimelineArgs {
            timeline: Some("/nonexistent/t.svg".into()),
            ..TimelineArgs::default()
        };
        assert!(Recording::new(&unwritable, "t").is_err());
        let file = std::env::temp_dir().join(format!("record-test-{}.svg", std::process::id()));
        let args = TimelineArgs {
            timeline: Some(file.clone()),
            ..TimelineArgs::default()
        };
        let Ok(Some(r)) = Recording::new(&args, "t") else {
            panic!("a recording")
        };
        let _ = std::fs::remove_file(&file);
        let side = |current, available| rollout_plan::Side {
            spec: current,
            current,
            available,
            spec_observed: true,
        };
        let progress = rollout_engine::Progress {
            old_name: "kubia-v1".into(),
            new_name: "kubia-v2".into(),
            old: side(3, 3),
            new: side(1, 0),
            desired: 3,
        };
        r.record(&Event::Progress(progress.clone()));
        r.record(&Event::Progress(progress));
        r.record(&Event::Line("Scaling kubia-v2 up to 1".into()));
        r.record(&Event::Line("Created kubia-v2".into()));
        r.record(&Event::Warning("lease not renewed".into()));
        let t = lock(&r.timeline);
        assert_eq!(t.pods.len(), 1, "an unchanged count is kept once");
        assert_eq!(t.pods[0].groups["kubia-v2"], PodCount { ready: 0, live: 1 });
        let labels: Vec<&str> = t.marks.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "kubia-v2 ↑1",
                "created kubia-v2",
                "warning: lease not renewed"
            ]
        );
        assert_eq!(t.marks[2].kind, MarkKind::Signal);
    }

    #[test]
    fn a_bad_rate_is_refused_before_anything_runs() {
        let args = TimelineArgs {
            timeline: Some(std::env::temp_dir().join("record-test-rate.svg")),
            probe: Some("http://127.0.0.1:30002/".into()),
            probe_rate: 1000.0,
        };
        assert!(Recording::new(&args, "t").is_err());
    }
}
