//! a1 with batched UDP (docs/a1-offload.md): segmented batches and receive
//! offload give the same statistics as plain datagrams, paced batches keep
//! to the schedule, `--no-offload` forces the fallback, and the original
//! Python programs still interoperate both ways.

mod common;

use common::{run, Proc, TempDir, DEADLINE};
use socklab::a1_iperf::protocol::Header;
use socklab::net::offload::{BatchSender, SendMode};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const SERVER: &str = env!("CARGO_BIN_EXE_a1-iperf-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a1-iperf-client");
/// The seed client builds its payload in a Python loop before sending.
const SEED_CLIENT_DEADLINE: Duration = Duration::from_secs(120);

fn start_server(extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["--port", "0"];
    args.extend_from_slice(extra);
    let server = Proc::spawn(SERVER, &args);
    let addr = server.wait_listening();
    (server, addr)
}

fn recv_text(socket: &UdpSocket) -> String {
    let mut buffer = [0u8; 4096];
    let len = socket.recv(&mut buffer).expect("a reply");
    String::from_utf8(buffer[..len].to_vec()).unwrap()
}

/// The test sender's order: 0..60 with 10 and 30..=32 dropped, 20 sent
/// three times, 25 twice, 40/41 and 50/51 swapped.
fn crafted_order() -> Vec<u64> {
    let mut order = Vec::new();
    for s in 0..60u64 {
        match s {
            10 | 30..=32 | 41 | 51 => {}
            20 => order.extend([20, 20, 20]),
            25 => order.extend([25, 25]),
            40 => order.extend([41, 40]),
            50 => order.extend([51, 50]),
            _ => order.push(s),
        }
    }
    order
}

/// Sends the crafted order as ONE segmented batch of 500-byte datagrams to
/// a server started with `extra`; returns the server's totals line
/// (`S stream bytes packets seconds lost duplicates out_of_order jitter`).
fn crafted_batch_totals(extra: &[&str]) -> Vec<String> {
    let (mut server, addr) = start_server(extra);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    client.connect(addr).unwrap();
    client.send(b"START").unwrap();
    let order = crafted_order();
    let mut batch = Vec::new();
    for &sequence in &order {
        let mut datagram = vec![b'a'; 500];
        Header {
            stream: 0,
            sequence,
            sent_ns: 1_000_000_000 + sequence * 1_000_000,
        }
        .write(&mut datagram);
        batch.extend(datagram);
    }
    let mut sender = BatchSender::new(&client, true);
    if cfg!(target_os = "linux") {
        assert_eq!(sender.mode(), SendMode::Segmented);
        assert!(batch.len() <= 65_000 && order.len() <= 64, "one call");
    }
    std::thread::sleep(Duration::from_millis(100));
    sender.send(&client, None, &batch, 500).unwrap();
    client.send(b"STOP").unwrap();
    let reply = recv_text(&client);
    let bytes = order.len() * 500;
    assert!(
        reply.ends_with(&format!(", received {bytes} bytes")),
        "{reply}"
    );
    let stats = recv_text(&client);
    assert!(server.expect_exit().success(), "{}", server.dump());
    let totals = stats.lines().find(|l| l.starts_with("S 0 ")).unwrap();
    totals.split(' ').map(str::to_string).collect()
}

/// A test sender drops, repeats and swaps datagrams inside one segmented
/// batch; the server counts exactly that, with receive offload and
/// without, and both paths agree on every count.
#[test]
fn a_crafted_batch_is_counted_exactly_with_and_without_offload() {
    let offloaded = crafted_batch_totals(&[]);
    let plain = crafted_batch_totals(&["--no-offload"]);
    let packets = crafted_order().len().to_string();
    for totals in [&offloaded, &plain] {
        assert_eq!(totals[2], (crafted_order().len() * 500).to_string());
        assert_eq!(totals[3], packets);
        // lost, duplicates, out of order
        assert_eq!(&totals[5..8], ["4", "3", "2"], "{totals:?}");
    }
    // bytes, packets, lost, duplicates, out of order: identical.
    assert_eq!(offloaded[2..4], plain[2..4]);
    assert_eq!(offloaded[5..8], plain[5..8]);
}

/// A pacing timer of 20 ms at 5 Mbit/s allows 12.5 datagrams of 1000 bytes
/// a tick, far less than one batch holds: the sender cuts its batches to
/// the schedule, so no burst exceeds 13 datagrams and every datagram is an
/// ordinary 1000-byte one — with offload and without.
#[test]
fn paced_batches_are_cut_to_the_schedule() {
    for extra in [None, Some("--no-offload")] {
        let mut args = vec![
            "--time",
            "0.4",
            "--rate",
            "5M",
            "--length",
            "1000",
            "--pacing-timer",
            "20000",
        ];
        args.extend(extra);
        let datagrams = common::datagrams_of_an_a1_client(CLIENT, &args);
        assert!(datagrams.iter().all(|&(len, _)| len == 1000));
        // 20 ticks of 12,500 bytes: 250 datagrams, give or take a tick.
        assert!(
            (230..=265).contains(&datagrams.len()),
            "{} datagrams",
            datagrams.len()
        );
        let mut bursts = vec![1usize];
        for pair in datagrams.windows(2) {
            match bursts.last_mut() {
                Some(last) if pair[1].1.saturating_sub(pair[0].1) <= 10_000_000 => *last += 1,
                _ => bursts.push(1),
            }
        }
        // A stalled tick may be caught up with the next one (26 at most);
        // most bursts are the schedule's 13 or 12.
        assert!(bursts.iter().all(|&n| n <= 26), "{bursts:?}");
        let scheduled = bursts.iter().filter(|&&n| n == 12 || n == 13).count();
        assert!(scheduled * 4 >= bursts.len() * 3, "{bursts:?}");
    }
}

/// The figures a finished human report shows: `Datagrams received: N`
/// on the server, `Sent X bytes in N datagrams` on the client.
fn number_after(text: &str, prefix: &str) -> u64 {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {text}"));
    line.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// `--no-offload` (and iperf3's `--no-gsro` spelling) forces the fallback
/// on both sides, normal and reverse: no note (it was asked for), and the
/// receiver accounts for every datagram the sender sent.
#[test]
fn no_offload_forces_the_fallback_both_ways() {
    for (flag, reverse) in [("--no-offload", false), ("--no-gsro", true)] {
        let (mut server, addr) = start_server(&[flag]);
        let port = addr.port().to_string();
        let mut args = vec!["--port", &port, "--bind", "127.0.0.1:0", flag];
        args.extend(["--length", "1472", "--rate", "80M", "--time", "0.5"]);
        if reverse {
            args.push("--reverse");
        }
        let (status, client) = run(CLIENT, &args);
        assert!(status.success(), "{}", client.dump());
        assert!(server.expect_exit().success(), "{}", server.dump());
        for side in [&client, &server] {
            assert!(!side.stderr_text().contains("note:"), "{}", side.dump());
        }
        let text = client.stdout_text();
        let (sent, received) = if reverse {
            (
                number_after(&text, "Server sent "),
                number_after(&text, "Received "),
            )
        } else {
            (
                number_after(&text, "Sent "),
                number_after(&server.stdout_text(), "Size of data received (bytes):  "),
            )
        };
        assert!(sent > 0 && received > 0 && received <= sent * 1472);
        // Lost + received datagrams is what was sent (lost from sequence
        // numbers, the tail from the sender's count).
        let lost_line = text
            .lines()
            .find(|l| l.starts_with("Lost datagrams: "))
            .unwrap_or_else(|| panic!("no loss line: {text}"));
        assert!(lost_line.contains("duplicates: 0"), "{lost_line}");
    }
}

/// The original a1 programs from the seed file (`PROTOCOLS.md` § a1, the
/// "Edited code using LLM" section), on the given ports; the server with
/// its one-line crash fixed (`start, end = 0` cannot unpack). The seeds
/// are in `../shared/seeds` beside the checkout, or where `SOCKLAB_SEEDS`
/// says; `None` when they are not on this machine.
fn seed_programs(dir: &TempDir, server_port: u16, client_port: u16) -> Option<(String, String)> {
    let seeds = std::env::var_os("SOCKLAB_SEEDS").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds"),
        std::path::PathBuf::from,
    );
    let file = std::fs::read_dir(seeds)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("000_"))?;
    let text = std::fs::read_to_string(file.path()).ok()?;
    let edited = text.split("## Edited code using LLM").nth(1)?;
    let mut blocks = edited
        .split("```python\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default().to_string());
    let ports = |code: String| {
        code.replace(
            "SERVER_PORT = 5555",
            &format!("SERVER_PORT = {server_port}"),
        )
        .replace(
            "CLIENT_PORT = 7777",
            &format!("CLIENT_PORT = {client_port}"),
        )
    };
    let client = ports(blocks.next()?);
    let server = ports(blocks.next()?).replace("start, end = 0\n", "start, end = 0, 0\n");
    let client_path = dir.path().join("seed_client.py");
    let server_path = dir.path().join("seed_server.py");
    std::fs::write(&client_path, client).ok()?;
    std::fs::write(&server_path, server).ok()?;
    Some((
        client_path.to_string_lossy().into_owned(),
        server_path.to_string_lossy().into_owned(),
    ))
}

/// The original Python server counts the offloading socklab client's
/// datagrams as ordinary 1500-byte ones (its 4096-byte reads would cut a
/// coalesced batch), and the socklab client prints its seed reply.
#[test]
fn the_original_server_sees_ordinary_datagrams() {
    let dir = TempDir::new("a1-offload-seed-server");
    let (server_port, client_port) = (common::free_udp_port(), common::free_udp_port());
    let Some((_, server_py)) = seed_programs(&dir, server_port, client_port) else {
        eprintln!("SKIPPED: no seed programs in ../shared/seeds (set SOCKLAB_SEEDS)");
        return;
    };
    let mut server = Proc::spawn("python3", &["-u", &server_py]);
    server
        .wait_stdout(|l| l == "Server is receiving data now...", DEADLINE)
        .unwrap_or_else(|| panic!("the seed server did not start; {}", server.dump()));
    let port = server_port.to_string();
    let bind = format!("127.0.0.1:{client_port}");
    let (status, client) = run(
        CLIENT,
        &["25", "--port", &port, "--bind", &bind, "--rate", "100M"],
    );
    assert!(status.success(), "{}", client.dump());
    client.expect_stdout("Throughput: ");
    assert!(server.expect_exit().success(), "{}", server.dump());
    let size = number_after(&server.stdout_text(), "Size of data received (bytes):  ");
    // 16,666 datagrams of 1500 bytes and one of 1000, some maybe lost:
    // never a coalesced 4096-byte read.
    assert!(size > 0 && size <= 25_000_000, "{size}");
    assert!(matches!(size % 1500, 0 | 1000), "{size}");
}

/// The original Python client, against the offloading socklab server:
/// every byte it sent is counted, and it prints the reply.
#[test]
fn the_original_client_is_counted_by_the_offloading_server() {
    let dir = TempDir::new("a1-offload-seed-client");
    let client_port = common::free_udp_port();
    let (mut server, addr) = start_server(&[]);
    let Some((client_py, _)) = seed_programs(&dir, addr.port(), client_port) else {
        eprintln!("SKIPPED: no seed programs in ../shared/seeds (set SOCKLAB_SEEDS)");
        return;
    };
    // Python builds the 25 MB payload byte by byte first: give it time.
    let mut client = Proc::spawn("python3", &[&client_py, "25"]);
    let status = client.wait_exit(SEED_CLIENT_DEADLINE);
    assert!(status.is_some_and(|s| s.success()), "{}", client.dump());
    assert!(server.expect_exit().success(), "{}", server.dump());
    let counted = number_after(&server.stdout_text(), "Size of data received (bytes):  ");
    assert!(counted > 0 && counted <= 25_000_000, "{counted}");
    client.expect_stdout(&format!(", received {counted} bytes"));
    client.expect_stdout("Client process completed iPerfectly!");
}
