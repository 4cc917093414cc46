//! Placeholder: not implemented yet.
fn main() -> std::process::ExitCode {
    eprintln!("error: a4-chat-server is not implemented yet");
    std::process::ExitCode::from(2)
}
