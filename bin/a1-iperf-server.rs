//! Placeholder: not implemented yet.
fn main() -> std::process::ExitCode {
    eprintln!("error: a1-iperf-server is not implemented yet");
    std::process::ExitCode::from(2)
}
