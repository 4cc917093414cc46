//! The a4 chat wire: every line the server and the client exchange or print,
//! the upload header and its grammar, and the rule for upload file names.
//!
//! Messages carry no terminator and no length prefix (as in the seed): the
//! server sends each line as one write, and a client prints whatever one
//! read returns. Only the upload header has a shape the server must find
//! inside the byte stream; see [`find_upload_header`].

use std::net::SocketAddr;

/// How many bytes the server reads from a client at a time (the seed's
/// `RECV_BUFFER`); one read becomes one chat message.
pub const READ_SIZE: usize = 4096;

/// The chat line a user types before an upload; it is ordinary chat.
pub const ANNOUNCE_UPLOAD: &str = "I will upload a file";

/// The word that starts an upload command (client) and header (wire).
pub const UPLOAD_COMMAND: &str = "#upload";

/// `user` for one (or no) user, `users` otherwise, as the seed counts.
pub fn users(count: usize) -> &'static str {
    if count <= 1 {
        "user"
    } else {
        "users"
    }
}

/// How the seed names a peer: `ip:port` (`%s:%s`), IPv4-mapped IPv6
/// addresses shown as IPv4.
pub fn peer_label(addr: SocketAddr) -> String {
    format!("{}:{}", addr.ip().to_canonical(), addr.port())
}

/// The server's first log line (the seed's), printed beside the readiness line.
pub fn server_started(port: u16) -> String {
    format!("Chat server started on port {port}.")
}

/// S→new client: `> Connected to the chat server (n users online)`.
pub fn connected(online: usize) -> String {
    format!(
        "> Connected to the chat server ({online} {} online)",
        users(online)
    )
}

/// S→others and log: `> New user ip:port entered (n users online)`.
pub fn new_user(peer: &str, online: usize) -> String {
    format!(
        "> New user {peer} entered ({online} {} online)",
        users(online)
    )
}

/// The prefix of a chat message as the others see it: `[ip:port] `.
pub fn chat_prefix(peer: &str) -> String {
    format!("[{peer}] ")
}

/// S→others and log when an upload completed.
pub fn user_uploaded(peer: &str) -> String {
    format!("> User {peer} has uploaded a file")
}

/// S→others and log: `< The user ip:port left (n users online)`.
pub fn user_left(peer: &str, online: usize) -> String {
    format!("< The user {peer} left ({online} {} online)", users(online))
}

/// What the uploading client prints once it has sent the file.
pub fn file_uploaded(name: &str) -> String {
    format!("> File '{name}' has uploaded!")
}

/// S→a client the server cannot take (extension: the seed has no limit).
pub fn server_full(max_clients: usize) -> String {
    format!(
        "> The chat server is full ({max_clients} {} online), try again later",
        users(max_clients)
    )
}

/// S→uploader when an upload is refused or fails (extension: the seed
/// crashes or writes anywhere). The bytes announced are read and dropped.
pub fn upload_refused(name: &str, reason: &str) -> String {
    format!("> Upload of '{name}' refused: {reason}")
}

/// The header the client sends before the file's bytes:
/// `#upload 'name' size` and a newline.
///
/// The seed sends no newline; its server reads the header with one `recv`
/// and splits it on whitespace, so the newline is ignored there. It lets
/// our server tell the size from file bytes that begin with a digit.
pub fn upload_header(name: &str, size: u64) -> String {
    format!("{UPLOAD_COMMAND} '{name}' {size}\n")
}

/// The file name in a typed upload command, `#upload 'name.ext'` (quotes
/// optional, as the seed strips them); `None` if the line is not one.
pub fn parse_upload_command(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix(UPLOAD_COMMAND)?;
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim();
    let name = match rest.strip_prefix('\'') {
        Some(quoted) => quoted.strip_suffix('\'')?,
        None => rest,
    };
    Some(name)
}

/// An upload header found in a client's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch<'a> {
    /// Where `#upload` starts; bytes before it are chat.
    pub start: usize,
    /// Where the file's bytes start.
    pub end: usize,
    /// The name as sent, quotes removed (not yet checked).
    pub name: &'a [u8],
    /// The size's decimal digits.
    pub digits: &'a [u8],
    /// No newline ended the header (the seed's form), so its last digits
    /// may be the file's first bytes, in this read or the next (see
    /// [`split_size_digits`]).
    pub ambiguous: bool,
}

impl HeaderMatch<'_> {
    /// The announced size, taking every digit.
    pub fn size(&self) -> u64 {
        parse_size(self.digits)
    }
}

/// Finds an upload header at the start of `segment`, a message (one read,
/// or what follows a file inside a read) that is not file data.
///
/// Grammar: `#upload`, blanks, the name, blanks, decimal digits, and an
/// optional `\n` that ends the header. A header is recognised only where a
/// message starts — `#upload` in the middle of chat is chat — with one
/// exception the protocol itself creates: the announcement
/// [`ANNOUNCE_UPLOAD`] is its own message, and TCP may deliver it joined
/// with the header in one read (`I will upload a file#upload 'x.png' 12`).
/// At the very start the name may be bare (`#upload x.png 12`, as the seed
/// allows); after the announcement it must be quoted.
///
/// Without the newline the digits run until the first non-digit, so when a
/// seed client's header arrives in the same read as its file, and the file
/// begins with a digit, the digits seen are too many (the seed crashes on
/// any such read). A header without the newline is therefore marked
/// [`HeaderMatch::ambiguous`].
pub fn find_upload_header(segment: &[u8]) -> Option<HeaderMatch<'_>> {
    if segment.starts_with(UPLOAD_COMMAND.as_bytes()) {
        return parse_header_at(segment, 0, false);
    }
    let announced = ANNOUNCE_UPLOAD.len();
    if segment.starts_with(ANNOUNCE_UPLOAD.as_bytes())
        && segment[announced..].starts_with(UPLOAD_COMMAND.as_bytes())
    {
        return parse_header_at(segment, announced, true);
    }
    None
}

fn parse_header_at(segment: &[u8], start: usize, need_quotes: bool) -> Option<HeaderMatch<'_>> {
    let mut at = start + UPLOAD_COMMAND.len();
    at = skip_blanks(segment, at)?;
    let name;
    if segment.get(at) == Some(&b'\'') {
        let close = at + 1 + segment[at + 1..].iter().position(|&b| b == b'\'')?;
        name = &segment[at + 1..close];
        at = close + 1;
    } else if need_quotes {
        return None;
    } else {
        let len = segment[at..].iter().position(|b| b.is_ascii_whitespace())?;
        name = &segment[at..at + len];
        at += len;
    }
    at = skip_blanks(segment, at)?;
    let count = segment[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if count == 0 {
        return None;
    }
    let digits = &segment[at..at + count];
    at += count;
    let terminated = segment.get(at) == Some(&b'\n');
    if terminated {
        at += 1;
    }
    Some(HeaderMatch {
        start,
        end: at,
        name,
        digits,
        ambiguous: !terminated,
    })
}

/// Decimal digits as a size (saturating at `u64::MAX`).
pub fn parse_size(digits: &[u8]) -> u64 {
    digits.iter().fold(0u64, |size, digit| {
        size.saturating_mul(10)
            .saturating_add(u64::from(digit.wrapping_sub(b'0')))
    })
}

/// Resolves an ambiguous header once the client has paused: `digits` were
/// read as the size and `following` bytes came after them. A seed client
/// sends exactly the announced size and then waits for its user, so the
/// size is the one for which the header's digits plus the file account for
/// everything received: the number of digits `k` with
/// `k + size(digits[..k]) == digits.len() + following`, longest first.
/// `None` when no split fits (more bytes are still to come).
pub fn split_size_digits(digits: &[u8], following: u64) -> Option<usize> {
    let total = (digits.len() as u64).saturating_add(following);
    (1..=digits.len())
        .rev()
        .find(|&k| (k as u64).saturating_add(parse_size(&digits[..k])) == total)
}

/// Skips at least one space or tab; `None` if there is none at `at`.
fn skip_blanks(segment: &[u8], at: usize) -> Option<usize> {
    let blanks = segment
        .get(at..)?
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    (blanks > 0).then_some(at + blanks)
}

/// The longest file name accepted (Linux `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;

/// Checks an uploaded file's name: it must be a plain name inside the
/// upload folder — not empty, no `/` or `\\`, not starting with `.` (which
/// also rules out `.` and `..`), no control characters and no invisible or
/// bidirectional formatting characters ([`is_hidden_format`]: U+202E would
/// show `evil\u{202E}gnp.exe` as `evilexe.png`), valid UTF-8, at most
/// [`MAX_NAME_LEN`] bytes. Surrounding blanks are trimmed. The error is the
/// reason shown to the uploader.
pub fn plain_file_name(raw: &[u8]) -> Result<&str, &'static str> {
    let name = std::str::from_utf8(raw)
        .map_err(|_| "the file name is not UTF-8")?
        .trim();
    if name.is_empty() {
        Err("the file name is empty")
    } else if name.contains(['/', '\\']) {
        Err("a file name may not contain '/' or '\\'")
    } else if name.starts_with('.') {
        Err("a file name may not start with '.'")
    } else if name.chars().any(char::is_control) {
        Err("a file name may not contain control characters")
    } else if name.chars().any(is_hidden_format) {
        Err("a file name may not contain invisible or bidirectional formatting characters")
    } else if name.len() > MAX_NAME_LEN {
        Err("the file name is longer than 255 bytes")
    } else {
        Ok(name)
    }
}

/// Invisible characters that change how a name is shown: the bidirectional
/// marks, embeddings, overrides and isolates (U+061C, U+200E–U+200F,
/// U+202A–U+202E, U+2066–U+2069), zero-width characters (U+200B–U+200D,
/// U+2060–U+2064, U+FEFF), the line and paragraph separators
/// (U+2028–U+2029) and the soft hyphen (U+00AD).
pub fn is_hidden_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The name an upload is saved under when `name` is taken: `copy` = 1, 2, …
/// gives `photo (1).png`, `photo (2).png` (the number goes before the last
/// extension; a name without one gets it at the end: `notes (1)`).
pub fn numbered_name(name: &str, copy: u32) -> String {
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({copy}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({copy})"),
    }
}

/// S→uploader when its file was saved under another name because the name
/// it gave was taken (extension: the seed replaces the earlier file).
pub fn saved_as(name: &str, saved: &str) -> String {
    format!("> '{name}' already exists on the server; your file was saved as '{saved}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_the_seed_byte_for_byte() {
        assert_eq!(
            connected(1),
            "> Connected to the chat server (1 user online)"
        );
        assert_eq!(
            connected(2),
            "> Connected to the chat server (2 users online)"
        );
        assert_eq!(
            new_user("127.0.0.1:50432", 2),
            "> New user 127.0.0.1:50432 entered (2 users online)"
        );
        assert_eq!(chat_prefix("127.0.0.1:50432"), "[127.0.0.1:50432] ");
        assert_eq!(
            user_uploaded("127.0.0.1:50426"),
            "> User 127.0.0.1:50426 has uploaded a file"
        );
        assert_eq!(
            user_left("127.0.0.1:50434", 2),
            "< The user 127.0.0.1:50434 left (2 users online)"
        );
        assert_eq!(
            user_left("127.0.0.1:50462", 0),
            "< The user 127.0.0.1:50462 left (0 user online)"
        );
        assert_eq!(
            file_uploaded("google.png"),
            "> File 'google.png' has uploaded!"
        );
        assert_eq!(server_started(9999), "Chat server started on port 9999.");
        assert_eq!(
            upload_header("google.png", 3082),
            "#upload 'google.png' 3082\n"
        );
    }

    #[test]
    fn peers_are_named_like_the_seed() {
        assert_eq!(
            peer_label("127.0.0.1:50432".parse().unwrap()),
            "127.0.0.1:50432"
        );
        assert_eq!(
            peer_label("[::ffff:127.0.0.1]:7".parse().unwrap()),
            "127.0.0.1:7"
        );
        assert_eq!(peer_label("[::1]:7".parse().unwrap()), "::1:7");
    }

    #[test]
    fn typed_upload_commands() {
        assert_eq!(
            parse_upload_command("#upload 'google.png'"),
            Some("google.png")
        );
        assert_eq!(
            parse_upload_command("#upload google.png "),
            Some("google.png")
        );
        assert_eq!(
            parse_upload_command("#upload 'my file.txt'"),
            Some("my file.txt")
        );
        assert_eq!(parse_upload_command("#upload"), Some(""));
        assert_eq!(parse_upload_command("#uploaded x"), None);
        assert_eq!(parse_upload_command("hello #upload 'x'"), None);
        assert_eq!(parse_upload_command("#upload 'x"), None);
    }

    #[test]
    fn header_alone_as_the_seed_sends_it() {
        let found = find_upload_header(b"#upload 'google.png' 3082").unwrap();
        assert_eq!(found.start, 0);
        assert_eq!(found.end, 25);
        assert_eq!(found.name, b"google.png");
        assert_eq!(found.size(), 3082);
        assert!(
            found.ambiguous,
            "an all-digit file may follow in the same read"
        );
    }

    #[test]
    fn header_with_newline_and_file_bytes_in_one_read() {
        let read = b"#upload 'a.csv' 5\n12345hello";
        let found = find_upload_header(read).unwrap();
        assert_eq!(found.size(), 5);
        assert!(!found.ambiguous);
        assert_eq!(&read[found.end..], b"12345hello");
    }

    #[test]
    fn seed_header_joined_with_binary_file_bytes() {
        let read = b"#upload 'x.bin' 3\xff\x00\x01";
        let found = find_upload_header(read).unwrap();
        assert_eq!(found.size(), 3);
        assert!(found.ambiguous);
        assert_eq!(&read[found.end..], b"\xff\x00\x01");
    }

    #[test]
    fn header_after_chat_in_the_same_read_needs_quotes() {
        let read = b"I will upload a file#upload 'g.png' 2\nPNG";
        let found = find_upload_header(read).unwrap();
        assert_eq!(&read[..found.start], ANNOUNCE_UPLOAD.as_bytes());
        assert_eq!(found.name, b"g.png");
        assert_eq!(&read[found.end..], b"PNG");
        assert_eq!(find_upload_header(b"type #upload x.png 12 to send"), None);
    }

    #[test]
    fn a_header_in_the_middle_of_chat_is_chat() {
        for chat in [
            &b"look: #upload 'x.png' 12\nabc"[..],
            b"hi#upload 'x' 1",
            b" #upload 'x' 1",
            b"I will upload a file now #upload 'x' 1",
            b"I will upload a file #upload 'x' 1",
        ] {
            assert_eq!(
                find_upload_header(chat),
                None,
                "{:?}",
                String::from_utf8_lossy(chat)
            );
        }
        // Right after the announcement the name must be quoted.
        assert_eq!(
            find_upload_header(b"I will upload a file#upload x.png 12"),
            None
        );
    }

    #[test]
    fn bare_name_only_at_the_start() {
        let found = find_upload_header(b"#upload x.png 12").unwrap();
        assert_eq!((found.name, found.size()), (&b"x.png"[..], 12));
    }

    #[test]
    fn malformed_headers_are_chat() {
        for chat in [
            &b"#upload"[..],
            b"#upload 'x'",
            b"#upload 'x' big",
            b"#upload 'x",
            b"#uploadx 'x' 1",
            b"#upload x",
        ] {
            assert_eq!(
                find_upload_header(chat),
                None,
                "{:?}",
                String::from_utf8_lossy(chat)
            );
        }
    }

    #[test]
    fn oversized_sizes_saturate() {
        let found = find_upload_header(b"#upload 'x' 99999999999999999999999").unwrap();
        assert_eq!(found.size(), u64::MAX);
    }

    #[test]
    fn a_paused_client_tells_size_digits_from_file_digits() {
        // Header `5002` joined by a file starting with "77": 6 digits seen,
        // then 5000 more bytes; only 4 digits + 5002 bytes add up.
        assert_eq!(split_size_digits(b"500277", 5000), Some(4));
        // A binary file after `3`: the digits are the size.
        assert_eq!(split_size_digits(b"3", 3), Some(1));
        // A one-byte file "7" in the same read as `1`; an empty file.
        assert_eq!(split_size_digits(b"17", 0), Some(1));
        assert_eq!(split_size_digits(b"0", 0), Some(1));
        // Still sending: nothing fits yet.
        assert_eq!(split_size_digits(b"500277", 100), None);
    }

    #[test]
    fn only_plain_names_are_accepted() {
        assert_eq!(plain_file_name(b"google.png"), Ok("google.png"));
        assert_eq!(plain_file_name(b" my file.txt "), Ok("my file.txt"));
        for bad in [
            &b""[..],
            b"  ",
            b"../x",
            b"/etc/x",
            b"a/b",
            b"a\\b",
            b".",
            b"..",
            b".hidden",
            b"a\nb",
            b"\xff",
        ] {
            assert!(plain_file_name(bad).is_err(), "{bad:?} accepted");
        }
        for hidden in [
            "evil\u{202E}gnp.exe",
            "a\u{200F}b",
            "a\u{2066}b",
            "zero\u{200B}width",
            "bom\u{FEFF}",
            "tab\tname",
            "del\u{7F}",
        ] {
            assert!(plain_file_name(hidden.as_bytes()).is_err(), "{hidden:?}");
        }
        assert_eq!(plain_file_name("café ü.txt".as_bytes()), Ok("café ü.txt"));
        assert!(plain_file_name(&[b'a'; 256]).is_err());
        assert!(plain_file_name(&[b'a'; 255]).is_ok());
    }

    #[test]
    fn taken_names_get_a_number_before_the_extension() {
        assert_eq!(numbered_name("photo.png", 1), "photo (1).png");
        assert_eq!(numbered_name("a.tar.gz", 2), "a.tar (2).gz");
        assert_eq!(numbered_name("notes", 3), "notes (3)");
        assert_eq!(
            saved_as("a.txt", "a (1).txt"),
            "> 'a.txt' already exists on the server; your file was saved as 'a (1).txt'"
        );
    }
}
