//! What the local cluster changes on the host, recorded before `up` so that `down` can put
//! it back: iptables rules and chains, kernel parameters, cgroups.
//!
//! Only what our cluster created is removed: chains named `KUBE-` or `CNI-` (`up` refuses to
//! start while another Kubernetes or CNI owns such chains, so these are ours) and rules that
//! jump to them or name our bridge or our address ranges; rules other programs (Docker) add
//! meanwhile survive.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

/// Kernel parameters the kubelet and kube-proxy may change.
const SYSCTLS: [&str; 9] = [
    "net/ipv4/conf/all/route_localnet",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
];

/// Writes the snapshot of the host into `dir` (once: a second `up` keeps the first one).
pub fn snapshot(dir: &Path) -> Result<()> {
    let file = dir.join("host-sysctls");
    if file.exists() {
        return Ok(());
    }
    let mut lines = String::new();
    for key in SYSCTLS {
        if let Ok(v) = std::fs::read_to_string(Path::new("/proc/sys").join(key)) {
            lines.push_str(&format!("{key}={}\n", v.trim()));
        }
    }
    std::fs::write(&file, lines)?;
    Ok(())
}

/// Restores the kernel parameters recorded by [`snapshot`].
pub fn restore_sysctls(dir: &Path) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(dir.join("host-sysctls")) else {
        return Ok(());
    };
    for line in text.lines() {
        if let Some((key, value)) = line.split_once('=') {
            let path = Path::new("/proc/sys").join(key);
            if std::fs::read_to_string(&path)
                .map(|v| v.trim().to_owned())
                .ok()
                .as_deref()
                != Some(value)
            {
                let _ = std::fs::write(&path, value);
            }
        }
    }
    Ok(())
}

/// A chain of kube-proxy's or the CNI plugins' (by its name's prefix), or one naming a mark.
fn ours(chain: &str, marks: &[String]) -> bool {
    chain.starts_with("KUBE-")
        || chain.starts_with("CNI-")
        || marks.iter().any(|m| chain.contains(m.as_str()))
}

/// A rule in another chain that jumps to one of ours or names a mark.
fn ours_rule(rule: &str, marks: &[String]) -> bool {
    rule.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| matches!(w[0], "-j" | "-g" | "--jump" | "--goto") && ours(w[1], marks))
        || marks.iter().any(|m| rule.contains(m.as_str()))
}

/// The `KUBE-`/`CNI-` chains on the host now (IPv4 and IPv6), by name.
pub fn kubernetes_chains() -> Vec<String> {
    let mut chains = BTreeSet::new();
    for save in ["iptables-save", "ip6tables-save"] {
        let Ok(out) = Command::new(save).stderr(Stdio::null()).output() else {
            continue;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(chain) = line.strip_prefix(':') {
                let name = chain.split_whitespace().next().unwrap_or_default();
                if name.starts_with("KUBE-") || name.starts_with("CNI-") {
                    chains.insert(name.to_owned());
                }
            }
        }
    }
    chains.into_iter().collect()
}

/// Removes every iptables/ip6tables chain and rule of our cluster: `KUBE-`/`CNI-` chains,
/// and rules naming them or one of `marks` (our bridge, our address ranges).
pub fn remove_iptables(marks: &[String]) -> Result<()> {
    for (save, restore) in [
        ("iptables-save", "iptables-restore"),
        ("ip6tables-save", "ip6tables-restore"),
    ] {
        let Ok(out) = Command::new(save).stderr(Stdio::null()).output() else {
            continue;
        };
        let script = cleanup_script(&String::from_utf8_lossy(&out.stdout), marks);
        if script.is_empty() {
            continue;
        }
        let mut child = Command::new(restore)
            .arg("--noflush")
            .stdin(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {restore}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin.write_all(script.as_bytes())?;
        }
        let status = child.wait()?;
        if !status.success() {
            eprintln!("warning: {restore} could not remove every rule:\n{script}");
        }
    }
    Ok(())
}

/// From `iptables-save` output, the `iptables-restore --noflush` input that deletes our
/// rules from other chains, then flushes and deletes our chains.
fn cleanup_script(saved: &str, marks: &[String]) -> String {
    let mut tables: BTreeMap<String, (BTreeSet<String>, Vec<String>)> = BTreeMap::new();
    let mut table = String::new();
    for line in saved.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_owned();
            tables.entry(table.clone()).or_default();
        } else if let Some(chain) = line.strip_prefix(':') {
            let name = chain.split_whitespace().next().unwrap_or_default();
            if ours(name, marks) {
                tables
                    .entry(table.clone())
                    .or_default()
                    .0
                    .insert(name.to_owned());
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let chain = rule.split_whitespace().next().unwrap_or_default();
            if !ours(chain, marks) && ours_rule(rule, marks) {
                tables
                    .entry(table.clone())
                    .or_default()
                    .1
                    .push(format!("-D {rule}"));
            }
        }
    }
    let mut script = String::new();
    for (table, (chains, deletes)) in tables {
        if chains.is_empty() && deletes.is_empty() {
            continue;
        }
        script.push_str(&format!("*{table}\n"));
        for d in deletes {
            script.push_str(&d);
            script.push('\n');
        }
        for c in &chains {
            script.push_str(&format!("-F {c}\n"));
        }
        for c in &chains {
            script.push_str(&format!("-X {c}\n"));
        }
        script.push_str("COMMIT\n");
    }
    script
}

/// Unmounts everything mounted below `dir` (deepest first).
pub fn unmount_below(dir: &Path) -> Result<()> {
    let prefix = format!("{}/", dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        let status = Command::new("umount")
            .arg("-l")
            .arg(p)
            .status()
            .context("running umount")?;
        anyhow::ensure!(status.success(), "umount -l {p} failed ({status})");
    }
    Ok(())
}

/// Removes the kubelet's `kubepods` cgroups (empty once every pod is gone), deepest first.
pub fn remove_kubepods_cgroups() {
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for c in controllers.flatten() {
        let root = c.path().join("kubepods");
        if root.is_dir() {
            remove_cgroup_tree(&root);
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    #[test]
    fn cleanup_keeps_foreign_rules() {
        let saved = "*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n:KUBE-SERVICES - [0:0]\n:CNI-HOSTPORT-DNAT - [0:0]\n\
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
-A POSTROUTING -s 10.233.64.0/24 -j MASQUERADE\n\
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n\
-A KUBE-SERVICES -j RETURN\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n\
-A FORWARD -o kubia0 -j ACCEPT\n-A FORWARD -o docker0 -j ACCEPT\n\
:MY-KUBE-CHAIN - [0:0]\n-A FORWARD -m comment --comment \"see KUBE-SERVICES\" -j ACCEPT\n\
-A FORWARD -j MY-KUBE-CHAIN\nCOMMIT\n";
        let marks = ["kubia0".to_owned(), "10.233.64.0/24".to_owned()];
        let s = super::cleanup_script(saved, &marks);
        assert_eq!(
            s,
            "*filter\n-D FORWARD -o kubia0 -j ACCEPT\nCOMMIT\n\
*nat\n-D PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
-D POSTROUTING -s 10.233.64.0/24 -j MASQUERADE\n\
-F CNI-HOSTPORT-DNAT\n-F KUBE-SERVICES\n-X CNI-HOSTPORT-DNAT\n-X KUBE-SERVICES\nCOMMIT\n"
        );
    }
}
