//! What a student meets in the first hour, beyond the README's examples
//! (which `tests/readme.rs` runs): two a1 clients at once.

mod common;

use common::{Proc, DEADLINE};
use std::net::UdpSocket;

fn binary(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_BIN_EXE_a1-iperf-client"))
        .parent()
        .unwrap();
    dir.join(name).to_string_lossy().into_owned()
}

/// The course's client port, 7777, held by "another client" (this test, or
/// whoever already holds it): the a1 client says so and uses a free port.
#[test]
fn a1_client_takes_a_free_port_when_7777_is_taken() {
    let _holder = UdpSocket::bind("127.0.0.1:7777");
    let mut server = Proc::spawn(&binary("a1-iperf-server"), &["--port", "0"]);
    let port = server.wait_listening().port().to_string();
    let mut client = Proc::spawn(
        &binary("a1-iperf-client"),
        &["25", "--rate", "400M", "--port", &port],
    );
    assert!(client.expect_exit().success(), "{}", client.dump());
    assert!(
        client
            .wait_stderr(
                |l| l == "port 7777 is taken (another client?): using a free port",
                DEADLINE
            )
            .is_some(),
        "{}",
        client.dump()
    );
    client.expect_stdout("Client process completed iPerfectly!");
    assert!(server.expect_exit().success(), "{}", server.dump());
}

/// A port the user named is not replaced: the error says what to do.
#[test]
fn a1_client_fails_with_a_hint_when_the_named_port_is_taken() {
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let (status, client) = common::run(
        &binary("a1-iperf-client"),
        &["25", "--port", "9", "--bind", &taken, "--json"],
    );
    assert_eq!(status.code(), Some(1), "{}", client.dump());
    let error = client.stderr_text();
    assert!(
        error.contains(&format!("cannot bind UDP {taken}")),
        "{error}"
    );
    assert!(error.contains("--bind ADDR:0 picks a free port"), "{error}");
    let json = client.stdout_text();
    assert!(json.starts_with("{\"error\":\"cannot bind UDP"), "{json}");
    assert!(json.contains("\"exit_status\":1"), "{json}");
}
