//! The tutorial itself, as the tests' oracle: the seed's `kubia-v1.yaml` and the ten lines
//! `kubectl rolling-update kubia-v1 kubia-v2 --image=luksa/kubia:v2` printed. One copy, used
//! by every test that compares with the tutorial (manifest generator, planner, engine, e2e),
//! so no test can drift from the others.

#![forbid(unsafe_code)]

/// The tutorial's `kubia-v1.yaml`, copied unchanged from the seed text
/// (`shared/seed/000_f69cae263767f04a.txt`, the `vi kubia-v1.yaml` block).
pub const KUBIA_V1_YAML: &str = "\
apiVersion: v1
kind: ReplicationController
metadata:
  name: kubia-v1
spec:
  replicas: 3
  template:
    metadata:
      name: kubia
      labels:
        app: kubia
    spec:
      containers:
      - image: luksa/kubia:v1
        name: nodejs
---
apiVersion: v1
kind: Service
metadata:
  name: kubia
spec:
  type: NodePort
  selector:
    app: kubia
  ports:
  - port: 80
    targetPort: 8080
    nodePort: 30002
";

/// What `kubectl rolling-update kubia-v1 kubia-v2 --image=luksa/kubia:v2` printed, line for
/// line (the tutorial's transcript).
pub const OUTPUT: [&str; 10] = [
    "Created kubia-v2",
    "Scaling up kubia-v2 from 0 to 3, scaling down kubia-v1 from 3 to 0 (keep 3 pods available, don't exceed 4 pods)",
    "Scaling kubia-v2 up to 1",
    "Scaling kubia-v1 down to 2",
    "Scaling kubia-v2 up to 2",
    "Scaling kubia-v1 down to 1",
    "Scaling kubia-v2 up to 3",
    "Scaling kubia-v1 down to 0",
    "Update succeeded. Deleting kubia-v1",
    "replicationcontroller/kubia-v2 rolling updated to \"kubia-v2\"",
];

/// The planner's part of [`OUTPUT`]: the start line and the six scaling steps.
pub fn planner_lines() -> &'static [&'static str] {
    &OUTPUT[1..8]
}

/// [`OUTPUT`] as printed: one line each, newline-terminated.
pub fn output_text() -> String {
    OUTPUT.iter().map(|l| format!("{l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transcript_holds_together() {
        assert_eq!(output_text().lines().count(), 10);
        assert!(planner_lines()[0].starts_with("Scaling up kubia-v2 from 0 to 3"));
        assert_eq!(planner_lines().last(), Some(&"Scaling kubia-v1 down to 0"));
        assert!(KUBIA_V1_YAML.contains("image: luksa/kubia:v1"));
    }
}
