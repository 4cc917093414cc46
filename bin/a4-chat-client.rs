//! Placeholder: not implemented yet.
fn main() -> std::process::ExitCode {
    eprintln!("error: a4-chat-client is not implemented yet");
    std::process::ExitCode::from(2)
}
