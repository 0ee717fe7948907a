//! Unit tests of `mqtk bench`'s flags: what `bench_config` accepts, refuses and builds.

use super::*;
use crate::cli::{Cli, Command};
use crate::protocol::{Properties, ProtocolVersion};
use clap::Parser;

fn config(args: &[&str]) -> anyhow::Result<BenchConfig> {
    let cli = Cli::try_parse_from(["mqtk", "bench"].iter().chain(args)).expect("flags parse");
    let Command::Bench(bench) = cli.command else {
        unreachable!("bench was parsed")
    };
    bench_config(&bench)
}

#[test]
fn flags_bench_would_ignore_are_refused_with_the_reason() {
    for (args, flag) in [
        (&["-i", "x"][..], "-i"),
        (&["-c"][..], "-c"),
        (&["-x", "60"][..], "-x"),
        (&["--session-dir", "/tmp"][..], "--session-dir"),
        (&["--will-topic", "w"][..], "--will-topic"),
        (&["-d"][..], "-d"),
        (&["-D", "connect", "session-expiry-interval", "5"][..], "-D"),
        (
            &[
                "--receive-maximum",
                "5",
                "-D",
                "connect",
                "user-property",
                "a",
                "b",
            ][..],
            "-D",
        ),
    ] {
        let err = config(args).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("bench does not use {flag}: ")),
            "{args:?}: {err}"
        );
    }
    let config = config(&["-D", "publish", "content-type", "text/plain", "-I", "p"]);
    assert!(config.is_ok(), "publish properties and -I are used");
}

#[test]
fn receive_maximum_is_announced_by_every_client_on_mqtt_5_only() {
    let c = config(&["--receive-maximum", "7"]).unwrap();
    assert_eq!(c.receive_maximum, Some(7));
    let connect = crate::bench::client::connect_packet(&c, ProtocolVersion::V5, "x".into());
    assert_eq!(connect.properties.receive_maximum, Some(7));
    // After a fallback to 3.1.1 the CONNECT carries no properties at all.
    let connect = crate::bench::client::connect_packet(&c, ProtocolVersion::V311, "x".into());
    assert_eq!(connect.properties, Properties::default());
    assert_eq!(config(&[]).unwrap().receive_maximum, None);
    let err = config(&["--receive-maximum", "7", "-V", "311"]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--receive-maximum is MQTT 5 only"),
        "{err}"
    );
}

#[test]
fn no_host_means_the_embedded_broker_and_a_port_alone_means_localhost() {
    assert_eq!(config(&[]).unwrap().target, Target::Embedded);
    assert_eq!(
        config(&["-p", "1999"]).unwrap().target,
        Target::Remote {
            host: "localhost".into(),
            port: 1999
        }
    );
    let c = config(&["-L", "mqtt://u:pw@example.com:1884"]).unwrap();
    assert_eq!(
        c.target,
        Target::Remote {
            host: "example.com".into(),
            port: 1884
        }
    );
    assert_eq!(c.username.as_deref(), Some("u"));
    assert_eq!(c.password.as_deref(), Some(&b"pw"[..]));
}

#[test]
fn presets_set_the_shape_and_explicit_flags_win() {
    let c = config(&["--scenario", "pairs"]).unwrap();
    assert_eq!((c.publishers, c.subscribers), (10, 10));
    assert_eq!(c.sub_topic, c.topic);
    assert_eq!(c.scenario_name(), "pairs");
    let c = config(&["--scenario", "fan-out", "--subscribers", "3"]).unwrap();
    assert_eq!((c.publishers, c.subscribers), (1, 3));
    let c = config(&["--scenario", "shared"]).unwrap();
    assert_eq!(c.shared_group.as_deref(), Some("mqtk-bench"));
    let c = config(&["--scenario", "connect"]).unwrap();
    assert_eq!(
        (c.publishers, c.subscribers, c.connect_only_clients),
        (0, 0, 100)
    );
    let c = config(&["--topic", "a/%i/b"]).unwrap();
    assert_eq!(c.sub_topic, "a/+/b");
}

#[test]
fn bad_combinations_are_refused_naming_the_flag() {
    let err = config(&["--size", "4"]).unwrap_err().to_string();
    assert!(err.contains("--size 4"), "{err}");
    let err = config(&["--shared", "g", "-V", "311"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--shared"), "{err}");
    let err = config(&["-L", "ws://example.com"]).unwrap_err().to_string();
    assert!(
        err.contains("-L ws://") && err.contains("WebSocket"),
        "{err}"
    );
}

#[test]
fn tls_is_on_as_for_pub_and_sub_with_mqtts_or_a_tls_flag() {
    let c = config(&["-L", "mqtts://u@example.com", "--insecure"]).unwrap();
    assert_eq!(
        c.target,
        Target::Remote {
            host: "example.com".into(),
            port: 8883
        }
    );
    assert_eq!(c.tls.as_ref().map(|t| t.host.as_str()), Some("example.com"));
    assert_eq!(c.username.as_deref(), Some("u"));
    // A TLS flag on -h switches TLS on, and the default port to 8883.
    let c = config(&["-h", "broker", "--insecure"]).unwrap();
    assert_eq!(
        c.target,
        Target::Remote {
            host: "broker".into(),
            port: 8883
        }
    );
    assert!(c.tls.is_some());
    let c = config(&["-h", "broker", "-p", "18883", "--insecure"]).unwrap();
    assert!(matches!(c.target, Target::Remote { port: 18883, .. }));
    // Plain stays plain.
    let c = config(&["-h", "broker"]).unwrap();
    assert!(matches!(c.target, Target::Remote { port: 1883, .. }));
    assert!(c.tls.is_none());
    let c = config(&["-L", "mqtt://broker"]).unwrap();
    assert!(c.tls.is_none());
}

#[test]
fn tls_mistakes_are_refused_before_the_run_naming_the_flag() {
    let err = config(&["-h", "broker", "--cafile", "/nonexistent/ca.pem"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--cafile /nonexistent/ca.pem") && err.contains("no such file"),
        "{err}"
    );
    let err = config(&[
        "-L",
        "mqtts://broker",
        "--insecure",
        "--cert",
        "/nonexistent/c.pem",
        "--key",
        "/nonexistent/c.key",
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("--cert /nonexistent/c.pem"), "{err}");
    // The built-in broker is plain: a TLS flag without a broker is a mistake.
    for flag in [&["--insecure"][..], &["--cafile", "ca.pem"][..]] {
        let err = config(flag).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: the built-in broker", flag[0])),
            "{err}"
        );
    }
}

#[test]
fn cross_shard_numbers_clients_in_the_whole_run_and_hashes_the_flag() {
    let shard = |i: u32| {
        let text = format!("{i}/3");
        let mut args = vec!["-h", "b", "--publishers", "5", "--subscribers", "7"];
        args.extend(["--shard", &text, "--run-id", "r", "--cross-shard"]);
        config(&args).unwrap()
    };
    // 5 publishers over 3 shards are 2, 2, 1; 7 subscribers 3, 2, 2.
    let c = shard(2);
    assert_eq!(c.topic, "mqtk-run/r/all/mqtk/bench/%i");
    assert_eq!(c.sub_topic, "mqtk-run/r/all/mqtk/bench/+");
    let numbering = c.cross().unwrap();
    assert_eq!(
        (numbering.first_publisher, numbering.first_subscriber),
        (4, 5)
    );
    assert_eq!(numbering.run_publishers, 5);
    assert_eq!(
        numbering.heard_by,
        [7],
        "every subscriber of the run hears it"
    );
    let plan = crate::bench::plan::Plan::build(&c).unwrap();
    assert_eq!(plan.publisher_topics.len(), 5, "every shard's publishers");
    assert_eq!(plan.publisher_topics[4], "mqtk-run/r/all/mqtk/bench/4");
    assert_eq!(plan.subscribers.len(), 2, "this shard's subscribers");
    assert!(plan.receivers_of.iter().all(|r| r == &[0, 1]));
    let hash = |c: &BenchConfig| c.shard.as_ref().unwrap().parameter_hash.clone();
    assert_eq!(hash(&c), hash(&shard(0)), "one run, one hash");
    let whole = config(&["-h", "b", "--publishers", "5", "--subscribers", "7"]).unwrap();
    let mut whole = crate::bench::scenario::parameters(&whole);
    let text = serde_json::to_string(&whole).unwrap();
    assert!(!text.contains("cross_shard"), "other runs hash as before");
    let plain = crate::bench::shard::parameter_hash(&whole);
    whole.cross_shard = true;
    assert_eq!(crate::bench::shard::parameter_hash(&whole), hash(&c));
    assert_ne!(plain, hash(&c));
}

#[test]
fn a_crossing_run_is_refused_without_the_flag_and_some_flags_with_it() {
    let e = config(&[
        "-h",
        "b",
        "--scenario",
        "fan-out",
        "--shard",
        "0/2",
        "--run-id",
        "r",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("this run crosses shards; add --cross-shard"),
        "{e}"
    );
    let e = config(&["-h", "b", "--cross-shard"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--cross-shard is for sharded runs"), "{e}");
    let e = config(&[
        "-h",
        "b",
        "--scenario",
        "flapping",
        "--shard",
        "0/2",
        "--run-id",
        "r",
        "--cross-shard",
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("--cross-shard and flapping"), "{e}");
}
