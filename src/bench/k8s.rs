//! `mqtk bench k8s`: the Kubernetes manifest of a sharded run, an Indexed Job whose pod
//! I runs `mqtk bench … --shard auto/N` (Kubernetes sets JOB_COMPLETION_INDEX to I),
//! with a comment block on how to collect and merge. No operator: the Job controller
//! is the engine, pod logs the transport.
//! Must not parse flags or talk to a cluster: it returns YAML text.

use std::fmt::Write as _;

/// What the manifest needs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// Job name; also the run id every shard shares.
    pub name: String,
    pub namespace: Option<String>,
    pub image: String,
    pub shards: u32,
    /// `key=value` labels pods must run on.
    pub node_selector: Vec<(String, String)>,
    /// The bench flags of every shard (without --shard and --run-id).
    pub bench_args: Vec<String>,
    /// Resource requests per pod.
    pub cpu: String,
    pub memory: String,
}

/// A YAML double-quoted scalar: JSON's string syntax is valid YAML.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

/// The manifest: a comment block, then the Indexed Job.
pub fn manifest(spec: &JobSpec) -> String {
    let name = &spec.name;
    let ns_flag = spec
        .namespace
        .as_ref()
        .map(|ns| format!(" -n {ns}"))
        .unwrap_or_default();
    let n = spec.shards;
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# mqtk bench: one run in {n} shards, a Kubernetes Indexed Job (pod I runs shard I)."
    );
    let _ = writeln!(
        y,
        "# Each pod waits at the start barrier (retained flags on the broker under test) until"
    );
    let _ = writeln!(
        y,
        "# all {n} are ready, so every pod must get scheduled: check quotas and node capacity."
    );
    let _ = writeln!(y, "#   kubectl apply -f THIS_FILE");
    let _ = writeln!(
        y,
        "#   kubectl wait{ns_flag} --for=condition=complete job/{name} --timeout=1h"
    );
    let _ = writeln!(y, "#   kubectl logs{ns_flag} -l job-name={name} --tail=-1 --max-log-requests={n} | mqtk bench merge -");
    let _ = writeln!(
        y,
        "# (each pod's last log line is its report; merge refuses a missing or restarted shard)."
    );
    let _ = writeln!(
        y,
        "# Open files: bench raises its soft limit to the container's hard limit (the node's"
    );
    let _ = writeln!(
        y,
        "# container runtime sets it, e.g. LimitNOFILE); Kubernetes has no per-pod field for it."
    );
    let _ = writeln!(
        y,
        "# A new run needs a new Job name (it is the run id): delete this Job or rename it."
    );
    let _ = writeln!(y, "apiVersion: batch/v1");
    let _ = writeln!(y, "kind: Job");
    let _ = writeln!(y, "metadata:");
    let _ = writeln!(y, "  name: {}", quoted(name));
    if let Some(ns) = &spec.namespace {
        let _ = writeln!(y, "  namespace: {}", quoted(ns));
    }
    let _ = writeln!(y, "  labels:");
    let _ = writeln!(y, "    app.kubernetes.io/name: mqtk-bench");
    let _ = writeln!(y, "spec:");
    let _ = writeln!(y, "  completionMode: Indexed");
    let _ = writeln!(y, "  completions: {n}");
    let _ = writeln!(y, "  parallelism: {n}");
    let _ = writeln!(y, "  backoffLimit: 0");
    let _ = writeln!(y, "  template:");
    let _ = writeln!(y, "    metadata:");
    let _ = writeln!(y, "      labels:");
    let _ = writeln!(y, "        app.kubernetes.io/name: mqtk-bench");
    let _ = writeln!(y, "        mqtk.dev/run: {}", quoted(name));
    let _ = writeln!(y, "    spec:");
    let _ = writeln!(y, "      restartPolicy: Never");
    let _ = writeln!(y, "      affinity:");
    let _ = writeln!(y, "        podAntiAffinity:");
    let _ = writeln!(
        y,
        "          preferredDuringSchedulingIgnoredDuringExecution:"
    );
    let _ = writeln!(y, "          - weight: 100");
    let _ = writeln!(y, "            podAffinityTerm:");
    let _ = writeln!(y, "              topologyKey: kubernetes.io/hostname");
    let _ = writeln!(y, "              labelSelector:");
    let _ = writeln!(y, "                matchLabels:");
    let _ = writeln!(y, "                  mqtk.dev/run: {}", quoted(name));
    if !spec.node_selector.is_empty() {
        let _ = writeln!(y, "      nodeSelector:");
        for (k, v) in &spec.node_selector {
            let _ = writeln!(y, "        {}: {}", quoted(k), quoted(v));
        }
    }
    let _ = writeln!(y, "      containers:");
    let _ = writeln!(y, "      - name: bench");
    let _ = writeln!(y, "        image: {}", quoted(&spec.image));
    let _ = writeln!(y, "        command: [\"mqtk\"]");
    let _ = writeln!(y, "        args:");
    let shard = format!("auto/{n}");
    let args = ["bench"]
        .into_iter()
        .chain(spec.bench_args.iter().map(String::as_str))
        .chain(["--shard", &shard, "--run-id", name]);
    for arg in args {
        let _ = writeln!(y, "        - {}", quoted(arg));
    }
    let _ = writeln!(y, "        resources:");
    let _ = writeln!(y, "          requests:");
    let _ = writeln!(y, "            cpu: {}", quoted(&spec.cpu));
    let _ = writeln!(y, "            memory: {}", quoted(&spec.memory));
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_is_indexed_and_every_pod_runs_its_shard() {
        let y = manifest(&JobSpec {
            name: "run-1".into(),
            namespace: Some("load".into()),
            image: "mqtk:dev".into(),
            shards: 3,
            node_selector: vec![("pool".into(), "bench".into())],
            bench_args: vec![
                "-h".into(),
                "broker".into(),
                "--topic".into(),
                "a \"b\"/%i".into(),
            ],
            cpu: "1".into(),
            memory: "256Mi".into(),
        });
        for line in [
            "  completionMode: Indexed",
            "  completions: 3",
            "  parallelism: 3",
            "  backoffLimit: 0",
            "      restartPolicy: Never",
            "        - \"auto/3\"",
            "        - \"a \\\"b\\\"/%i\"",
            "        \"pool\": \"bench\"",
            "#   kubectl logs -n load -l job-name=run-1 --tail=-1 --max-log-requests=3 | mqtk bench merge -",
        ] {
            assert!(y.lines().any(|l| l == line), "no line {line:?} in\n{y}");
        }
    }
}
