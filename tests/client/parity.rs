//! mosquitto 2.1's client options in `mqtk sub`/`pub`, against real peers: `-E` and `-U`
//! against mosquitto's kept sessions, `--unix` against `mqtk serve --unix` (with
//! mosquitto_sub as the other client) and against mosquitto's `listener 0 PATH`,
//! `--proxy` through a SOCKS5 proxy written in Python from the RFCs
//! (tests/py/socks5_server.py), `-o FILE`, `--pretty`, `-F %f %d`, `--message-rate`,
//! `--random-filter` (a bounded statistical check) and `--retain-handling`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::peers::publish;
use support::{mqtk, mqtk_sub_ready, output, spawn_lines, text, Mosquitto, Serve};

const WAIT: Duration = Duration::from_secs(20);

fn sub(broker: &Mosquitto, args: &[&str]) -> std::process::Output {
    output(mqtk().arg("sub").args(broker.host_args()).args(args))
}

#[test]
fn sub_e_exits_once_subscribed_and_leaves_a_session_that_keeps_messages() {
    let broker = Mosquitto::start();
    let setup = sub(
        &broker,
        &["-c", "-i", "parity-e", "-q", "1", "-t", "e/t", "-E"],
    );
    assert!(setup.status.success(), "{}", text(&setup.stderr));
    assert!(setup.stdout.is_empty());
    publish(
        broker.port(),
        &["-t", "e/t", "-q", "1", "-m", "kept for you"],
    );
    let later = sub(
        &broker,
        &[
            "-c", "-i", "parity-e", "-q", "1", "-t", "e/t", "-C", "1", "-W", "5",
        ],
    );
    assert!(later.status.success(), "{}", text(&later.stderr));
    assert_eq!(text(&later.stdout), "kept for you\n");
}

#[test]
fn sub_u_removes_the_subscription_of_a_kept_session_then_exits() {
    let broker = Mosquitto::start();
    for version in ["5", "311"] {
        let id = format!("parity-u-{version}");
        let setup = sub(
            &broker,
            &["-V", version, "-c", "-i", &id, "-q", "1", "-t", "u/t", "-E"],
        );
        assert!(setup.status.success(), "{}", text(&setup.stderr));
        let unsub = sub(&broker, &["-V", version, "-c", "-i", &id, "-U", "u/t"]);
        assert!(
            unsub.status.success(),
            "-V {version}: {}",
            text(&unsub.stderr)
        );
        publish(
            broker.port(),
            &["-t", "u/t", "-q", "1", "-m", "nobody wants this"],
        );
        // The session is still there (no error, clean start 0), but not its subscription:
        // nothing was queued for it.
        let later = sub(
            &broker,
            &[
                "-V", version, "-c", "-i", &id, "-q", "1", "-t", "other", "-W", "2",
            ],
        );
        assert_eq!(
            later.status.code(),
            Some(27),
            "-V {version}: {}",
            text(&later.stderr)
        );
        assert_eq!(text(&later.stdout), "", "-V {version}");
    }
}

#[test]
fn unix_socket_clients_reach_serve_and_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mqtk.sock");
    let path_text = path.to_str().unwrap();
    let mut serve = Serve::start(&["--unix", path_text]);
    let line = serve.running().next_line(WAIT).unwrap_or_default();
    assert_eq!(line, format!("listening on unix://{path_text}"));
    // mosquitto_sub over the socket, mqtk pub over the socket.
    let mut peer = spawn_lines(Command::new("stdbuf").args([
        "-oL",
        "mosquitto_sub",
        "--unix",
        path_text,
        "-t",
        "x/#",
        "-v",
        "-d",
        "-C",
        "1",
    ]));
    peer.expect_line(|l| l.contains("received SUBACK"), WAIT);
    let sent = output(mqtk().args([
        "pub",
        "--unix",
        path_text,
        "-t",
        "x/1",
        "-m",
        "over unix",
        "-q",
        "1",
    ]));
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    peer.expect_line(|l| l == "x/1 over unix", WAIT);
    serve.stop();
    assert!(!path.exists(), "serve removes its socket file on exit");

    // mqtk sub over mosquitto's own Unix listener (Debian's 2.0.11 has them).
    let mosquitto_dir = tempfile::tempdir().unwrap();
    let socket = mosquitto_dir.path().join("mosquitto.sock");
    let conf = format!("listener 0 {}\n", socket.display());
    let broker = Mosquitto::start_in(mosquitto_dir, &conf);
    let mut sub = spawn_lines(mqtk().args([
        "sub",
        "--unix",
        socket.to_str().unwrap(),
        "-d",
        "-t",
        "y",
        "-C",
        "1",
    ]));
    sub.expect_stderr(|e| e.contains("received SUBACK"), WAIT);
    publish(broker.port(), &["-t", "y", "-m", "from tcp"]);
    sub.expect_line(|l| l == "from tcp", WAIT);
    assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
}

/// The Python SOCKS5 proxy, its port, and its log lines.
fn socks_proxy(args: &[&str]) -> (support::Running, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/socks5_server.py");
    let mut proxy = spawn_lines(Command::new("python3").arg(script).args(args));
    let line = proxy.expect_line(|l| l.starts_with("listening "), WAIT);
    let port = line["listening ".len()..].parse().unwrap();
    (proxy, port)
}

#[test]
fn proxy_tunnels_through_socks5_with_and_without_a_password() {
    let broker = Mosquitto::start();
    let port = broker.port().to_string();
    for (proxy_args, user) in [
        (vec![], ""),
        (
            vec!["--user", "al@ice", "--password", "pa:ss word"],
            "al%40ice:pa%3Ass word@",
        ),
    ] {
        let (mut proxy, proxy_port) = socks_proxy(&proxy_args);
        let url = format!("socks5h://{user}127.0.0.1:{proxy_port}");
        let mut sub = spawn_lines(mqtk().args([
            "sub",
            "-h",
            "localhost",
            "-p",
            &port,
            "--proxy",
            &url,
            "-d",
            "-t",
            "p",
            "-C",
            "1",
        ]));
        sub.expect_stderr(|e| e.contains("received SUBACK"), WAIT);
        // The proxy, not mqtk, resolved "localhost" (socks5h).
        proxy.expect_line(|l| l == format!("connect localhost {port}"), WAIT);
        publish(broker.port(), &["-t", "p", "-m", "tunnelled"]);
        sub.expect_line(|l| l == "tunnelled", WAIT);
        assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
        if !user.is_empty() {
            let wrong = format!("socks5h://al%40ice:nope@127.0.0.1:{proxy_port}");
            let out =
                output(mqtk().args(["pub", "-p", &port, "--proxy", &wrong, "-t", "p", "-m", "x"]));
            assert_eq!(out.status.code(), Some(1));
            assert!(
                text(&out.stderr).contains("the proxy refused the user name or password"),
                "{}",
                text(&out.stderr)
            );
            proxy.expect_line(|l| l == "auth failed", WAIT);
            let none = format!("socks5h://127.0.0.1:{proxy_port}");
            let out =
                output(mqtk().args(["pub", "-p", &port, "--proxy", &none, "-t", "p", "-m", "x"]));
            assert!(
                text(&out.stderr).contains("none of our methods"),
                "{}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn options_file_gives_defaults_that_the_command_line_overrides() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub.opts");
    // A wrong port in the file: the command line's -p must win; -t adds to the file's.
    let opts = "# mosquitto style\n-h 127.0.0.1\n-p 1\n-t o/file\n-v\n-i from-file\n";
    std::fs::write(&file, opts).unwrap();
    let port = broker.port().to_string();
    let mut sub = spawn_lines(mqtk().args([
        "sub",
        "-o",
        file.to_str().unwrap(),
        "-p",
        &port,
        "-t",
        "o/cli",
        "-d",
        "-C",
        "2",
    ]));
    sub.expect_stderr(|e| e.contains("received SUBACK"), WAIT);
    publish(broker.port(), &["-t", "o/file", "-m", "one"]);
    publish(broker.port(), &["-t", "o/cli", "-m", "two"]);
    assert!(sub.expect_exit(WAIT).success(), "{}", sub.stderr());
    assert_eq!(
        sub.rest_of_lines(Duration::from_secs(2)),
        ["o/file one", "o/cli two"]
    );
    assert!(sub.stderr().contains("id 'from-file'"), "{}", sub.stderr());
    std::fs::write(&file, "-t a\n--no-such-flag\n").unwrap();
    let out = output(mqtk().args(["sub", "-o", file.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("line 2: unknown option '--no-such-flag'"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn pretty_indents_json_and_templates_read_floats() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (float, double) = (dir.path().join("f"), dir.path().join("d"));
    std::fs::write(&float, 21.5f32.to_le_bytes()).unwrap();
    std::fs::write(&double, (-0.125f64).to_le_bytes()).unwrap();
    publish(
        broker.port(),
        &["-t", "n/f", "-r", "-f", float.to_str().unwrap()],
    );
    publish(
        broker.port(),
        &["-t", "n/d", "-r", "-f", double.to_str().unwrap()],
    );
    let out = sub(
        &broker,
        &["-t", "n/f", "-C", "1", "-F", "%t %f %.1f %08.2f"],
    );
    assert_eq!(text(&out.stdout), "n/f 21.500000 21.5 00021.50\n");
    let out = sub(&broker, &["-t", "n/d", "-C", "1", "-F", "%d|%-8.3d|"]);
    assert_eq!(text(&out.stdout), "-0.125000|-0.125  |\n");
    let out = sub(&broker, &["-t", "n/d", "-C", "1", "-F", "%f"]);
    assert!(
        text(&out.stderr).contains("8 bytes, not a 4-byte"),
        "{}",
        text(&out.stderr)
    );
    publish(broker.port(), &["-t", "n/j", "-r", "-m", "{\"a\":[1,2]}"]);
    let out = sub(&broker, &["-t", "n/j", "-C", "1", "--json", "--pretty"]);
    let printed = text(&out.stdout);
    assert!(
        printed.starts_with("{\n  \"topic\": \"n/j\",\n"),
        "{printed}"
    );
    let value: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(value["payload"], "{\"a\":[1,2]}");
    let out = sub(&broker, &["-t", "n/j", "-C", "1", "-F", "%J", "--pretty"]);
    let value: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(value["payload"]["a"][1], 2);
    assert!(
        text(&out.stdout).contains("\n    \"a\": [\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn message_rate_counts_every_message_each_second() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &["-t", "r", "--message-rate", "-W", "3"],
    );
    let lines: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    let mut pub_ = spawn_lines(support::mosquitto_pub(broker.port()).args(["-t", "r", "-l"]));
    {
        use std::io::Write;
        let mut stdin = pub_.stdin().expect("stdin is piped");
        stdin.write_all(lines.join("\n").as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    assert!(pub_.expect_exit(WAIT).success());
    assert_eq!(sub.expect_exit(WAIT).code(), Some(27));
    let counts: Vec<u64> = sub
        .rest_of_lines(Duration::from_secs(2))
        .iter()
        .map(|l| {
            l.strip_suffix(" msgs/s")
                .unwrap_or_else(|| panic!("{l:?}"))
                .parse()
                .unwrap()
        })
        .collect();
    assert!(counts.len() >= 2, "{counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), 50, "{counts:?}");
}

#[test]
fn random_filter_prints_about_the_given_share() {
    let broker = Mosquitto::start();
    let mut sub = mqtk_sub_ready(
        &broker.host_args(),
        &["-t", "rf", "-q", "1", "--random-filter", "20", "-C", "1000"],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lines");
    let body: String = (0..1000).map(|i| format!("m{i}\n")).collect();
    std::fs::write(&file, body).unwrap();
    let out = output(Command::new("sh").arg("-c").arg(format!(
        "mosquitto_pub -p {} -t rf -q 1 -l < {}",
        broker.port(),
        file.display()
    )));
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A loaded machine (every test binary at once) may take its time over 1000 QoS 1 acks.
    assert!(sub.expect_exit(3 * WAIT).success(), "{}", sub.stderr());
    let printed = sub.rest_of_lines(Duration::from_secs(2)).len();
    // Binomial(1000, 0.2): mean 200, sd 12.6; 130..270 is beyond 5 sd either way.
    assert!(
        (130..=270).contains(&printed),
        "{printed} of 1000 printed at 20%"
    );
}

#[test]
fn retain_handling_takes_mosquitto_names() {
    let broker = Mosquitto::start();
    publish(broker.port(), &["-t", "rh/t", "-r", "-m", "kept"]);
    let never = sub(
        &broker,
        &["-t", "rh/t", "--retain-handling", "never", "-W", "1"],
    );
    assert_eq!(
        (never.status.code(), text(&never.stdout)),
        (Some(27), String::new())
    );
    let always = sub(
        &broker,
        &[
            "-t",
            "rh/t",
            "--retain-handling",
            "always",
            "-C",
            "1",
            "-W",
            "5",
        ],
    );
    assert_eq!(text(&always.stdout), "kept\n");
    // `new`: only a subscription the session did not have yet gets the retained message.
    let args = [
        "-c",
        "-i",
        "parity-rh",
        "-t",
        "rh/t",
        "--retain-handling",
        "new",
        "-C",
        "1",
        "-W",
        "2",
    ];
    assert_eq!(text(&sub(&broker, &args).stdout), "kept\n");
    let again = sub(&broker, &args);
    assert_eq!(
        (again.status.code(), text(&again.stdout)),
        (Some(27), String::new())
    );
}

#[test]
fn tls_flags_capath_tls_version_os_certs_and_no_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = support::pki::pki(dir.path());
    let (broker, tls_port) =
        support::pki::mosquitto_tls(&pki.cert, &pki.key, "tls_version tlsv1.3\n");
    let cadir = tempfile::tempdir().unwrap();
    std::fs::copy(&pki.ca, cadir.path().join("test-ca.pem")).unwrap();
    std::fs::write(cadir.path().join("README"), "not a certificate").unwrap();
    let capath = cadir.path().to_str().unwrap();
    let tls = tls_port.to_string();
    let publish_with = |args: &[&str]| {
        output(
            mqtk()
                .args(["pub", "-h", "localhost", "-t", "tls/t", "-m", "x"])
                .args(args),
        )
    };
    let out = publish_with(&["-p", &tls, "--capath", capath]);
    assert!(out.status.success(), "--capath: {}", text(&out.stderr));
    let out = publish_with(&["-p", &tls, "--capath", capath, "--tls-version", "tlsv1.3"]);
    assert!(out.status.success(), "tlsv1.3: {}", text(&out.stderr));
    // mosquitto's listener takes TLS 1.3 at least: insisting on 1.2 fails the handshake.
    let out = publish_with(&["-p", &tls, "--capath", capath, "--tls-version", "tlsv1.2"]);
    assert_eq!(out.status.code(), Some(1), "tlsv1.2 against a 1.3 listener");
    // The system's roots do not know the test CA; with --capath too, they are added.
    let out = publish_with(&["-p", &tls, "--tls-use-os-certs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let out = publish_with(&["-p", &tls, "--tls-use-os-certs", "--capath", capath]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // --no-tls drops the TLS flags (from -o FILE, say) and talks plain MQTT.
    let plain = broker.port().to_string();
    let out = publish_with(&["-p", &plain, "--cafile", support::p(&pki.ca), "--no-tls"]);
    assert!(out.status.success(), "--no-tls: {}", text(&out.stderr));
    let out = publish_with(&["-p", &plain, "--tls-version", "tlsv1.2"]);
    assert!(
        text(&out.stderr).contains("--tls-version needs TLS"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bind_address_picks_the_local_address_the_broker_sees() {
    let mut serve = Serve::start(&["-v"]);
    let port = serve.port().to_string();
    let out = output(mqtk().args([
        "pub",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-A",
        "127.0.0.2",
        "-t",
        "a",
        "-m",
        "b",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    serve
        .running()
        .expect_stderr(|e| e.contains("connected from 127.0.0.2:"), WAIT);
    let out = output(mqtk().args([
        "pub",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-A",
        "::1",
        "-t",
        "a",
        "-m",
        "b",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("-A ::1: no local address of the broker's IP family"),
        "{}",
        text(&out.stderr)
    );
}
