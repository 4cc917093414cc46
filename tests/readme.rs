//! The README's try-it commands, run as written: each command below must
//! appear in README.md word for word, and each demo runs here with short
//! deadlines. One liberty: the README's fixed ports (2347, 8080, …) are
//! replaced by free ones, so parallel tests never collide; the servers start
//! on port 0 and the clients get the port the readiness line names (with
//! `--port` when the command relies on the seed's default port, as a1's
//! do; the a1 client likewise binds a free local port instead of the seed's
//! 7777).

mod common;

use common::{Proc, TempDir};
use std::time::Duration;

/// One demo: a server command, then client commands (with their stdin).
struct Demo {
    server: &'static str,
    clients: &'static [Client],
    /// The fixed port the README uses.
    port: &'static str,
}

struct Client {
    /// The README's text for this command (a pipe included).
    text: &'static str,
    /// What the pipe feeds the client, if anything.
    stdin: Option<&'static str>,
    /// A line the client's stdout must contain.
    expect: &'static str,
    /// Whether to wait for the client to exit (else it runs beside the next).
    wait: bool,
}

const DEMOS: &[Demo] = &[
    Demo {
        server: "a1-iperf-server",
        port: "5555",
        clients: &[Client {
            text: "a1-iperf-client 100",
            stdin: None,
            expect: "Client process completed iPerfectly!",
            wait: true,
        }],
    },
    Demo {
        server: "a1-iperf-server",
        port: "5555",
        clients: &[Client {
            text: "a1-iperf-client 50 --server localhost --json",
            stdin: None,
            expect: "{\"reverse\":false,\"parallel\":1,\"sender\":{\"bytes\":50000000,",
            wait: true,
        }],
    },
    Demo {
        server: "a2-tcp-server",
        port: "2347",
        clients: &[Client {
            text: "a2-tcp-client 127.0.0.1 2347",
            stdin: None,
            expect: "b'GET / HTT'",
            wait: true,
        }],
    },
    Demo {
        server: "a3-ping-server -p 8080",
        port: "8080",
        clients: &[Client {
            text: "a3-ping-client -ip 127.0.0.1 -port 8080 -n 10 -i 0.1 -s 1024",
            stdin: None,
            expect: "Loss Percentage:",
            wait: true,
        }],
    },
    Demo {
        server: "a3-ping-server -p 8080",
        port: "8080",
        clients: &[Client {
            text: "a3-ramp-client -ip 127.0.0.1 -p 8080 -n 20 -i 0.1 -s 1024",
            stdin: None,
            expect: "Plot written to ramp.svg",
            wait: true,
        }],
    },
    Demo {
        server: "a3-file-server 9000 notes.pdf --once",
        port: "9000",
        clients: &[Client {
            text: "a3-file-client 127.0.0.1 9000",
            stdin: None,
            expect: "into RECIEVED_FILE.txt",
            wait: true,
        }],
    },
    Demo {
        server: "a3-file-server 9000 notes.pdf",
        port: "9000",
        clients: &[
            Client {
                text: "a3-file-client 127.0.0.1 9000",
                stdin: None,
                expect: "into RECIEVED_FILE.txt",
                wait: true,
            },
            Client {
                text: "a3-file-client 127.0.0.1 9000 -o notes.pdf --key SECRET_KEY",
                stdin: None,
                expect: "into notes.pdf",
                wait: true,
            },
        ],
    },
    Demo {
        server: "a3-relay-server 5000",
        port: "5000",
        clients: &[
            Client {
                text: "printf '1\\n3\\n4\\n' | a3-relay-client 127.0.0.1 5000 --local-port 40000",
                stdin: Some("1\n3\n4\n"),
                expect: "Message:  hello",
                wait: false,
            },
            Client {
                text: "printf '1\\n2\\n127.0.0.1\\n40000\\nhello\\n4\\n' | a3-relay-client 127.0.0.1 5000",
                stdin: Some("1\n2\n127.0.0.1\n40000\nhello\n4\n"),
                expect: "Message Sent",
                wait: true,
            },
        ],
    },
    Demo {
        server: "a3-dual-server ::1 5000",
        port: "5000",
        clients: &[Client {
            text: "a3-dual-client ::1 5000",
            stdin: None,
            expect: "Connection closed",
            wait: true,
        }],
    },
    Demo {
        server: "a3-ping-server -p 8080",
        port: "8080",
        clients: &[Client {
            text: "a3-ping-client --ip ::1 -p 8080 -n 100 -i 0.01 -s 64 --timeout 1 --schedule-report --json",
            stdin: None,
            expect: "{\"sent\":100,",
            wait: true,
        }],
    },
    Demo {
        server: "a3-ping-server -p 8080",
        port: "8080",
        clients: &[Client {
            text: "a3-ramp-client -ip 127.0.0.1 -p 8080 -n 40 -i 0.2 -s 1024 --plot ramp.svg --csv ramp.csv",
            stdin: None,
            expect: "Table written to ramp.csv",
            wait: true,
        }],
    },
    Demo {
        server: "a3-dual-server --port 5000",
        port: "5000",
        clients: &[
            Client {
                text: "a3-dual-client 127.0.0.1 5000",
                stdin: None,
                expect: "Connection closed",
                wait: true,
            },
            Client {
                text: "a3-dual-client ::1 5000 --count 1000 --message hello",
                stdin: None,
                expect: "1000 round(s)",
                wait: true,
            },
        ],
    },
    Demo {
        server: "a4-chat-server 127.0.0.1 9999",
        port: "9999",
        clients: &[Client {
            text: "printf 'hello\\n' | a4-chat-client 127.0.0.1 9999",
            stdin: Some("hello\n"),
            expect: "> Connected to the chat server (1 user online)",
            wait: true,
        }],
    },
    Demo {
        server: "a5-accio-server 5000 files",
        port: "5000",
        clients: &[Client {
            text: "a5-accio-client 127.0.0.1 5000 notes.pdf",
            stdin: None,
            expect: "",
            wait: true,
        }],
    },
];

/// The path of a binary built for this test run.
fn binary(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_BIN_EXE_a2-tcp-server"))
        .parent()
        .unwrap();
    dir.join(name).to_string_lossy().into_owned()
}

/// The command after a `printf … |`, split into words, with `port` put for
/// the README's fixed port.
fn words(text: &str, fixed: &str, port: &str) -> Vec<String> {
    let command = text.rsplit("| ").next().unwrap();
    command
        .split_whitespace()
        .map(|word| {
            if word == fixed {
                port.to_string()
            } else {
                word.to_string()
            }
        })
        .collect()
}

#[test]
fn every_demo_command_is_in_the_readme() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for demo in DEMOS {
        assert!(
            readme.contains(demo.server),
            "README lacks {:?}",
            demo.server
        );
        for client in demo.clients {
            assert!(
                readme.contains(client.text),
                "README lacks {:?}",
                client.text
            );
        }
    }
}

#[test]
fn every_demo_runs_as_written() {
    for demo in DEMOS {
        let dir = TempDir::new("readme");
        std::fs::write(dir.path().join("notes.pdf"), b"%PDF-1.4 notes").unwrap();
        let mut server_words = words(demo.server, demo.port, "0");
        if !demo.server.contains(demo.port) {
            // The seed's default port (a2: 2347): ask for a free one instead.
            server_words.extend(["--port".to_string(), "0".to_string()]);
        }
        let args: Vec<&str> = server_words[1..].iter().map(String::as_str).collect();
        let mut server = Proc::spawn_in(&binary(&server_words[0]), &args, Some(dir.path()));
        let port = server.wait_listening().port().to_string();
        let mut running = Vec::new();
        for client in demo.clients {
            let mut client_words = words(client.text, demo.port, &port);
            if !client.text.contains(demo.port) {
                client_words.extend(["--port".to_string(), port.clone()]);
            }
            if client_words[0] == "a1-iperf-client" && !client.text.contains("--bind") {
                client_words.extend(["--bind".to_string(), "127.0.0.1:0".to_string()]);
            }
            let args: Vec<&str> = client_words[1..].iter().map(String::as_str).collect();
            let mut proc = Proc::spawn_in(&binary(&client_words[0]), &args, Some(dir.path()));
            if let Some(input) = client.stdin {
                if !client.wait {
                    // Let it register (menu 1) before the next client
                    // sends to it; a pipe would be read at once.
                    proc.write_stdin(&input[..2]);
                    proc.expect_stdout("My IP is");
                    proc.write_stdin(&input[2..]);
                } else {
                    proc.write_stdin(input);
                }
                proc.close_stdin();
            } else {
                proc.close_stdin();
            }
            if client.wait {
                let status = proc.expect_exit();
                assert!(status.success(), "{}: {}", client.text, proc.dump());
                if !client.expect.is_empty() {
                    proc.expect_stdout(client.expect);
                }
            } else {
                running.push((proc, client));
            }
        }
        for (mut proc, client) in running {
            proc.expect_stdout(client.expect);
            assert!(
                proc.expect_exit().success(),
                "{}: {}",
                client.text,
                proc.dump()
            );
        }
        // Servers that stop after one client (as their seeds) have exited.
        if server.wait_exit(Duration::from_millis(300)).is_none() {
            server.signal("TERM");
        }
        assert!(
            server.expect_exit().success(),
            "{}: {}",
            demo.server,
            server.dump()
        );
    }
}
