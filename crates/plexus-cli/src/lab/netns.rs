//! Network namespaces made with iproute2 (`ip netns add`), entered per thread with
//! `setns(2)`, and deleted when their guard drops.

use std::fs::File;
use std::process::{Command, Stdio};

/// A named network namespace that exists while this value lives.
#[derive(Debug)]
pub(crate) struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates `name` (deleting a stale one of that name first) with its loopback up.
    pub(crate) fn create(name: &str) -> Result<NetNs, String> {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", name])?;
        let ns = NetNs {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (`ip netns exec NAME ...`).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n NAME args...` (configuration inside the namespace).
    pub(crate) fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Moves the calling thread into the namespace: sockets it (and threads it starts)
    /// creates from now on live there. Sockets already made stay where they were.
    pub(crate) fn enter(&self) -> Result<(), String> {
        NetNs::enter_by_name(&self.name)
    }

    /// [`enter`](Self::enter) by the namespace's name (for a thread that does not hold
    /// the guard).
    pub(crate) fn enter_by_name(name: &str) -> Result<(), String> {
        let path = format!("/var/run/netns/{name}");
        let file = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("setns({path}): {e} (the lab needs root)"))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `ip args...`; an error carries what it printed.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e} (the lab needs iproute2)", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {} (the lab needs root)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
