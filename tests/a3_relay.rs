//! a3 relay: the server's replies from a raw socket, forwarding between two
//! of our clients, the closed relay, junk, and clean stops.

mod common;

use common::{Proc, DEADLINE};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const SERVER: &str = env!("CARGO_BIN_EXE_a3-relay-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_a3-relay-client");
const SUCCESS: &str = "200, UDP Packet Sent Successfully";
const UNREACHABLE: &str = "405, Could not send the message to the requested address";

/// The client's reply timeout: generous, for a loaded machine.
const REPLY_TIMEOUT: &str = "10";

/// How long a test waits before concluding that nothing arrives.
const SILENCE: Duration = Duration::from_millis(500);

fn start_server(extra: &[&str]) -> (Proc, SocketAddr) {
    let mut args = vec!["0", "--bind", "127.0.0.1"];
    args.extend_from_slice(extra);
    let server = Proc::spawn(SERVER, &args);
    let addr = server.wait_listening();
    (server, addr)
}

/// A plain UDP socket on loopback with a read timeout.
fn raw_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    socket
}

fn receive(socket: &UdpSocket) -> String {
    let mut buffer = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buffer).expect("a datagram arrives");
    String::from_utf8(buffer[..len].to_vec()).unwrap()
}

/// Sends `request` to the server and returns its reply.
fn ask(socket: &UdpSocket, server: SocketAddr, request: &[u8]) -> String {
    socket.send_to(request, server).unwrap();
    receive(socket)
}

/// Whether a datagram arrives at `socket` within [`SILENCE`].
fn receives_anything(socket: &UdpSocket) -> bool {
    socket.set_read_timeout(Some(SILENCE)).unwrap();
    let mut buffer = [0u8; 4096];
    let got = socket.recv_from(&mut buffer).is_ok();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    got
}

fn register(socket: &UdpSocket, server: SocketAddr) {
    let port = socket.local_addr().unwrap().port();
    assert_eq!(
        ask(socket, server, b"hii"),
        format!("('127.0.0.1', {port})")
    );
}

/// Starts a client, initializes it and returns it with its port as the
/// server reported it.
fn start_client(server: SocketAddr) -> (Proc, u16) {
    let port = server.port().to_string();
    let mut client = Proc::spawn(
        CLIENT,
        &[
            "127.0.0.1",
            &port,
            "--bind",
            "127.0.0.1",
            "--timeout",
            REPLY_TIMEOUT,
        ],
    );
    client.write_stdin("1\n");
    let line = client.expect_stdout("My IP is 127.0.0.1 and my port is ");
    let port = line.rsplit(' ').next().unwrap().parse().unwrap();
    (client, port)
}

fn send_line(client: &mut Proc, to_port: u16, message: &str) {
    client.write_stdin(&format!("2\n127.0.0.1\n{to_port}\n{message}\n"));
}

#[test]
fn every_reply_from_a_raw_socket() {
    let (_server, addr) = start_server(&[]);
    let client = raw_socket();
    let target = raw_socket();
    register(&target, addr);
    let target_port = target.local_addr().unwrap().port();
    let client_port = client.local_addr().unwrap().port();

    let oversized = vec![b';'; 1025];
    let cases: [(&[u8], &str); 11] = [
        (b"no separator", "400"),
        (&[0xff, 0xfe, b';', b':'], "400"),
        (&oversized, "400"),
        (b"to:127.0.0.9;content:x", "401"),
        (b"to:a/1;content:x:y", "401"),
        (b"from:a/1;content:x", "402"),
        (b"to:a/one;content:x", "403"),
        (b"to:a/1;body:x", "404"),
        (b"to:127.0.0.1/9;content:x", UNREACHABLE),
        (b"to:127.0.0.1/70000;content:x", UNREACHABLE),
        (b"HiI", &format!("('127.0.0.1', {client_port})")),
    ];
    for (request, reply) in cases {
        let shown = String::from_utf8_lossy(&request[..request.len().min(40)]).into_owned();
        assert_eq!(ask(&client, addr, request), reply, "request {shown:?}");
    }
    assert!(
        !receives_anything(&target),
        "a refused request was forwarded"
    );

    let request = format!(" TO : 127.0.0.1 / {target_port} ; Content :  hello there ");
    assert_eq!(ask(&client, addr, request.as_bytes()), SUCCESS);
    assert_eq!(
        receive(&target),
        format!("127.0.0.1/{client_port} ; content : hello there")
    );
}

#[test]
fn a_target_that_never_said_hii_gets_nothing() {
    let (_server, addr) = start_server(&[]);
    let stranger = raw_socket();
    let stranger_port = stranger.local_addr().unwrap().port();
    let (mut client, _) = start_client(addr);
    send_line(&mut client, stranger_port, "spam");
    client.expect_stdout("Message not sent");
    client.expect_stdout(&format!("Error : {UNREACHABLE}"));
    assert!(
        !receives_anything(&stranger),
        "the closed relay forwarded to a stranger"
    );
}

#[test]
fn open_relay_forwards_to_anyone() {
    let (_server, addr) = start_server(&["--open-relay"]);
    let client = raw_socket();
    let stranger = raw_socket();
    let request = format!(
        "to:127.0.0.1/{};content:hi",
        stranger.local_addr().unwrap().port()
    );
    assert_eq!(ask(&client, addr, request.as_bytes()), SUCCESS);
    let client_port = client.local_addr().unwrap().port();
    assert_eq!(
        receive(&stranger),
        format!("127.0.0.1/{client_port} ; content : hi")
    );
}

#[test]
fn two_clients_talk_both_ways() {
    let (_server, addr) = start_server(&[]);
    let (mut alice, alice_port) = start_client(addr);
    let (mut bob, bob_port) = start_client(addr);

    send_line(&mut alice, bob_port, "hello bob");
    alice.expect_stdout("Message Sent");
    bob.expect_stdout(&format!("Message received from 127.0.0.1/{alice_port}"));
    bob.expect_stdout("Message:  hello bob");

    // Bob waits in menu 3, as the seed's users do; Alice's message ends it.
    bob.write_stdin("3\n");
    bob.expect_stdout(&format!(
        "Waiting for the message at 127.0.0.1/{bob_port}..."
    ));
    send_line(&mut alice, bob_port, "second");
    bob.expect_stdout("Message:  second");

    send_line(
        &mut bob,
        alice_port,
        "hi alice; a message that looks like 200, a reply",
    );
    bob.expect_stdout("Message Sent");
    alice.expect_stdout(&format!("Message received from 127.0.0.1/{bob_port}"));
    alice.expect_stdout("Message:  hi alice; a message that looks like 200, a reply");

    for client in [&mut alice, &mut bob] {
        client.write_stdin("4\n");
        assert!(client.expect_exit().success());
    }
    // A message is never mistaken for a reply, nor a reply for a message.
    assert!(!alice.stdout_text().contains("Message not sent"));
    assert!(!bob.stdout_text().contains("Message:  200"));
}

#[test]
fn piped_session_sends_and_exits() {
    let (_server, addr) = start_server(&[]);
    let target = raw_socket();
    register(&target, addr);
    let target_port = target.local_addr().unwrap().port();
    let mut client = Proc::spawn(
        CLIENT,
        &[
            "127.0.0.1",
            &addr.port().to_string(),
            "--timeout",
            REPLY_TIMEOUT,
        ],
    );
    client.write_stdin(&format!("1\n2\n127.0.0.1\n{target_port}\nhello\n4\n"));
    client.close_stdin();
    assert!(client.expect_exit().success(), "{}", client.dump());
    let out = client.stdout_text();
    for expected in [
        "1. Initialize\n2. Send Message\n3. Receive Message\n4. Exit\n5. Close Server",
        "Enter your choice (1/2/3/4/5): ('127.0.0.1', ",
        "Enter the recipient's IP address: Enter the recipient's port number: \
         Enter your message: Message Sent",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let client_port = client
        .expect_stdout("My IP is 127.0.0.1 and my port is ")
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        receive(&target),
        format!("127.0.0.1/{client_port} ; content : hello")
    );
}

#[test]
fn client_explains_bad_input_and_exits_at_end_of_input() {
    let (_server, addr) = start_server(&[]);
    let mut client = Proc::spawn(
        CLIENT,
        &[
            "127.0.0.1",
            &addr.port().to_string(),
            "--timeout",
            REPLY_TIMEOUT,
        ],
    );
    client.write_stdin("x\n9\n2\n3\n1\n2\n127.0.0.1\nabc\n2\n127.0.0.1\n0\n");
    client.close_stdin();
    assert!(client.expect_exit().success(), "{}", client.dump());
    let out = client.stdout_text();
    assert_eq!(
        out.matches("Invalid choice: enter a number from 1 to 5.")
            .count(),
        2,
        "{out}"
    );
    assert_eq!(out.matches("Initialize first.").count(), 2, "{out}");
    assert!(out.contains("Invalid port \"abc\": enter a number from 1 to 65535."));
    assert!(out.contains("Invalid port \"0\": enter a number from 1 to 65535."));
    // The menu came back after every mistake: once per line read, plus one.
    assert_eq!(out.matches("5. Close Server").count(), 8, "{out}");
}

#[test]
fn junk_datagrams_do_not_stop_the_server() {
    let (mut server, addr) = start_server(&[]);
    let junk = raw_socket();
    for (i, len) in [0usize, 1, 3, 1023, 1024, 1025, 9000, 65_507]
        .into_iter()
        .enumerate()
    {
        let bytes = common::pseudo_random_bytes(len, i as u64 + 1);
        junk.send_to(&bytes, addr).unwrap();
    }
    let probe = raw_socket();
    register(&probe, addr);
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died"
    );
    // Every junk datagram got an answer (none of them was a valid request).
    for _ in 0..8 {
        let reply = receive(&junk);
        assert!(
            ["400", "401", "402", "403", "404"].contains(&reply.as_str()),
            "{reply:?}"
        );
    }
}

#[test]
fn exit_server_from_loopback_stops_the_server() {
    let (mut server, addr) = start_server(&[]);
    raw_socket().send_to(b"exit server", addr).unwrap();
    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Relay stopped: 1 datagrams, 0 forwarded, 0 refused");
}

#[test]
fn client_menu_5_closes_the_server() {
    let (mut server, addr) = start_server(&[]);
    let (mut client, _) = start_client(addr);
    client.write_stdin("5\n");
    assert!(client.expect_exit().success());
    assert!(server.expect_exit().success(), "{}", server.dump());
}

#[test]
fn ctrl_c_stops_server_and_client_with_status_0() {
    let (mut server, addr) = start_server(&[]);
    let (mut client, _) = start_client(addr);
    client.signal("INT");
    assert!(client.expect_exit().success(), "{}", client.dump());
    server.signal("INT");
    assert!(server.expect_exit().success(), "{}", server.dump());
    server.expect_stdout("Relay stopped: ");
}

#[test]
fn a_message_arriving_before_the_reply_is_not_taken_for_it() {
    // A scripted server: it sends a forwarded message just before the reply,
    // the order that fooled the seed client.
    let fake_server = raw_socket();
    let addr = fake_server.local_addr().unwrap();
    let mut client = Proc::spawn(
        CLIENT,
        &[
            "127.0.0.1",
            &addr.port().to_string(),
            "--timeout",
            REPLY_TIMEOUT,
        ],
    );
    client.write_stdin("1\n2\n127.0.0.1\n4242\nhello\n");
    let mut buffer = [0u8; 1024];
    let (len, client_addr) = fake_server.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..len], b"hii");
    let tuple = format!("('127.0.0.1', {})", client_addr.port());
    fake_server.send_to(tuple.as_bytes(), client_addr).unwrap();
    let (len, _) = fake_server.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..len], b"to:127.0.0.1/4242;content:hello");
    fake_server
        .send_to(b"127.0.0.1/4242 ; content : 405, sneaky", client_addr)
        .unwrap();
    fake_server
        .send_to(SUCCESS.as_bytes(), client_addr)
        .unwrap();

    client.expect_stdout("Message Sent");
    client.expect_stdout("Message received from 127.0.0.1/4242");
    client.expect_stdout("Message:  405, sneaky");
    client.write_stdin("4\n");
    assert!(client.expect_exit().success());
    assert!(!client.stdout_text().contains("Message not sent"));
}
