//! The network lab as a test: socklab across a real (emulated) bottleneck.
//!
//! Builds the three-namespace lab of `tests/lab/lab.sh` (client, router,
//! server; veth links of MTU 1500; the router's egress toward the server
//! limited to 100 Mbit/s by `tc tbf`), then
//! - sends 25 MB with `a1-iperf-client --rate 110M` in 1472-byte datagrams
//!   and checks that the loss socklab reports equals the loss counted
//!   independently from the kernel's counters (bytes the client's veth sent
//!   minus bytes the server's veth received, in data frames, plus the
//!   server's socket-buffer drops), within two datagrams;
//! - sends for 2 s at 200 % of the limit, evenly spaced and with iperf3's
//!   pacing (`--pacing-timer 1000`: 1 ms bursts), and checks the jitter
//!   a1 reports against the jitter of the same datagrams computed from the
//!   wire (`tests/lab/wire_jitter.py`: kernel arrival stamps on the server's
//!   veth), within 20 % or 5 µs; the bursts must queue at the bottleneck
//!   (over 0.1 ms of jitter, about 0.2 ms expected);
//! - runs a short `a3-ping-client` across the link and checks every probe
//!   is answered.
//!
//! Runs only where network namespaces are available (root and `ip netns`
//! works); elsewhere it records itself as skipped (`make test` lists it). The namespaces are
//! deleted by a drop guard, so a failing assertion does not leave them.
mod common;

use common::{json, run, Proc, TempDir};
use std::process::Command;

const CLIENT_IP: &str = "198.18.1.2";
const SERVER_IP: &str = "198.18.2.2";
/// Payload per datagram: the largest that fits a 1500-byte packet.
const PAYLOAD: u64 = 1472;
/// Bytes of one data frame on the veth counters (Ethernet + IP + UDP).
const FRAME: u64 = PAYLOAD + 42;
/// The tbf limit on the router, in bits per second on the wire.
const LIMIT_BPS: f64 = 100e6;

/// The lab's namespaces; deleted on drop.
struct Lab {
    client: String,
    router: String,
    server: String,
}

impl Lab {
    /// Why the lab cannot run here, if it cannot.
    fn unavailable() -> Option<String> {
        let uid = Command::new("id").arg("-u").output().ok()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Some("not root".into());
        }
        let tc = Command::new("tc").arg("-V").output();
        if !tc.is_ok_and(|out| out.status.success()) {
            return Some("tc (iproute2) is missing".into());
        }
        let probe = format!("socklab-probe-{}", std::process::id());
        match Command::new("ip").args(["netns", "add", &probe]).output() {
            Ok(out) if out.status.success() => {
                let _ = Command::new("ip").args(["netns", "del", &probe]).status();
                None
            }
            Ok(_) => Some("'ip netns add' is not permitted here".into()),
            Err(e) => Some(format!("cannot run ip: {e}")),
        }
    }

    /// Creates the lab with `lab_up` from `tests/lab/lab.sh`.
    fn create() -> Lab {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let id = format!("t{}-{nanos}", std::process::id());
        // The guard exists before anything is created, so a half-built lab
        // is torn down too.
        let lab = Lab {
            client: format!("socklab-{id}-client"),
            router: format!("socklab-{id}-router"),
            server: format!("socklab-{id}-server"),
        };
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/lab.sh");
        let out = Command::new("bash")
            .args(["-c", &format!("set -e; source '{script}'; lab_up")])
            .env("LAB_ID", &id)
            .env_remove("LAB_NETEM")
            .env_remove("LAB_RATE")
            .env_remove("LAB_BURST")
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "lab_up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        lab
    }

    /// `ip netns exec NS program args...` as a started process.
    fn spawn(&self, ns: &str, program: &str, args: &[&str]) -> Proc {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        Proc::spawn("ip", &all)
    }

    /// The output of a command run inside `ns`.
    fn read(&self, ns: &str, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .output()
            .expect("ip runs");
        assert!(out.status.success(), "{args:?} failed in {ns}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn counter(&self, ns: &str, dev: &str, field: &str) -> u64 {
        let path = format!("/sys/class/net/{dev}/statistics/{field}");
        let text = self.read(ns, &["cat", &path]);
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{path}: {text:?}"))
    }

    /// UDP datagrams `ns` dropped for full receive buffers so far.
    fn rcvbuf_errors(&self, ns: &str) -> u64 {
        let snmp = self.read(ns, &["cat", "/proc/net/snmp"]);
        let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
        let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
        let at = names
            .split_whitespace()
            .position(|n| n == "RcvbufErrors")
            .unwrap();
        values.split_whitespace().nth(at).unwrap().parse().unwrap()
    }

    /// The counters the truth is computed from.
    fn snapshot(&self) -> [u64; 4] {
        [
            self.counter(&self.client, "c0", "tx_bytes"),
            self.counter(&self.client, "c0", "tx_dropped"),
            self.counter(&self.server, "s0", "rx_bytes"),
            self.rcvbuf_errors(&self.server),
        ]
    }
}

impl Lab {
    /// Runs one a1 test across the lab (server in the server namespace,
    /// `a1-iperf-client --json ARGS` in the client's); both must succeed.
    /// Returns the finished client.
    fn a1(&self, args: &[&str]) -> Proc {
        let mut server = self.spawn(
            &self.server,
            env!("CARGO_BIN_EXE_a1-iperf-server"),
            &["--bind", SERVER_IP, "--port", "0"],
        );
        let port = server.wait_listening().port().to_string();
        let bind = format!("{CLIENT_IP}:0");
        let mut all = vec![
            "--server", SERVER_IP, "--port", &port, "--bind", &bind, "--json",
        ];
        all.extend_from_slice(args);
        let mut client = self.spawn(&self.client, env!("CARGO_BIN_EXE_a1-iperf-client"), &all);
        assert!(
            client.expect_exit().success(),
            "a1 client; {}",
            client.dump()
        );
        assert!(
            server.expect_exit().success(),
            "a1 server; {}",
            server.dump()
        );
        client
    }

    /// Runs a 2 s a1 test across the lab with the client's `args` while
    /// `wire_jitter.py` watches the server's veth; returns the jitter a1
    /// reported and the wire's, in ms.
    fn a1_jitter_against_the_wire(&self, args: &[&str]) -> (f64, f64) {
        let dir = TempDir::new("lab-wire");
        let out = dir.path().join("wire.txt");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/wire_jitter.py");
        let mut wire = self.spawn(&self.server, "python3", &[script, out.to_str().unwrap()]);
        wire.expect_stdout("sniffing");
        let mut all = vec!["--time", "2", "--length", "1472"];
        all.extend_from_slice(args);
        let client = self.a1(&all);
        wire.signal("TERM");
        assert!(wire.expect_exit().success(), "{}", wire.dump());
        let reported = json::parse(&client.stdout_text())["receiver"]["jitter_ms"].num();
        let line = std::fs::read_to_string(&out).expect("wire_jitter.py wrote its line");
        let wire_ms = line
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("wire line {line:?}"));
        (reported, wire_ms)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.client, &self.router, &self.server] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Datagrams lost between two snapshots, counted by the kernel.
fn truth(before: [u64; 4], after: [u64; 4]) -> u64 {
    let sent = after[0] - before[0];
    let received = after[2] - before[2];
    let link = (sent.saturating_sub(received) as f64 / FRAME as f64).round() as u64;
    link + (after[1] - before[1]) + (after[3] - before[3])
}

/// What the client reports: (datagrams lost, send rate in bit/s).
fn socklab_report(stdout: &str) -> (u64, f64) {
    let report = json::parse(stdout);
    let lost = report["receiver"]["lost_packets"].num();
    let rate = report["sender"]["bits_per_second"].num();
    (lost as u64, rate)
}

#[test]
fn socklab_loss_equals_the_counted_truth_across_a_bottleneck() {
    if let Some(why) = Lab::unavailable() {
        common::skip(&why);
        return;
    }
    let lab = Lab::create();

    // a1 at 110 % of the limit.
    let before = lab.snapshot();
    let client = lab.a1(&["25", "--length", "1472", "--rate", "110M"]);
    let after = lab.snapshot();
    let (reported, send_rate) = socklab_report(&client.stdout_text());
    let counted = truth(before, after);
    assert!(
        reported.abs_diff(counted) <= 2,
        "socklab reported {reported} lost datagrams, the counters say {counted}; {}",
        client.dump()
    );
    assert!(
        !client.stderr_text().contains("path MTU"),
        "1472-byte datagrams fit a 1500-byte MTU; {}",
        client.dump()
    );
    // The bottleneck really bit: a sender above the limit's payload rate
    // (a loaded machine may slow it) must have lost datagrams.
    let payload_capacity = LIMIT_BPS * PAYLOAD as f64 / FRAME as f64;
    if send_rate > payload_capacity * 1.05 {
        assert!(
            counted > 0,
            "sent at {send_rate:.0} bit/s into a {LIMIT_BPS} bit/s link, nothing lost"
        );
    }

    // Datagrams over the path MTU: the client warns once, before the test.
    let client = lab.a1(&["--time", "0.3", "--length", "1500", "--rate", "10M"]);
    let warnings = client
        .stderr_text()
        .matches("over the path MTU of 1500")
        .count();
    assert_eq!(warnings, 1, "one MTU warning expected; {}", client.dump());

    // Jitter: a1's figure against the wire's, for smooth and bursty traffic.
    let even = lab.a1_jitter_against_the_wire(&["--rate", "200M"]);
    let bursts = lab.a1_jitter_against_the_wire(&["--rate", "200M", "--pacing-timer", "1000"]);
    for (reported, wire) in [even, bursts] {
        assert!(
            (reported - wire).abs() <= (0.2 * wire).max(0.005),
            "a1 reported {reported} ms of jitter, the wire saw {wire} ms"
        );
    }
    assert!(
        bursts.1 > 0.1,
        "1 ms bursts at twice the link rate must queue: wire jitter {} ms",
        bursts.1
    );

    // A short ping across the link: every probe acknowledged.
    let mut ping_server = lab.spawn(
        &lab.server,
        env!("CARGO_BIN_EXE_a3-ping-server"),
        &[
            "--bind",
            SERVER_IP,
            "-p",
            "0",
            // The client's `exit` comes from the client namespace.
            "--remote-exit",
            "--loss",
            "0",
            "--min-delay",
            "0",
            "--max-delay",
            "0",
        ],
    );
    let port = ping_server.wait_listening().port().to_string();
    let (status, ping) = run(
        "ip",
        &[
            "netns",
            "exec",
            &lab.client,
            env!("CARGO_BIN_EXE_a3-ping-client"),
            "--ip",
            SERVER_IP,
            "--port",
            &port,
            "-n",
            "20",
            "-i",
            "0.05",
            "-s",
            "64",
            "--json",
        ],
    );
    assert!(status.success(), "ping client failed; {}", ping.dump());
    let report = json::parse(&ping.stdout_text());
    // Every probe answered: in time, or late on a busy machine (the timeout
    // is the 50 ms interval), but none lost on an uncongested link.
    let answered = report["received"].num() + report.get("late").map_or(0.0, json::Value::num);
    assert_eq!(answered, 20.0, "{}", ping.dump());
    assert!(
        ping_server.expect_exit().success(),
        "{}",
        ping_server.dump()
    );
}
