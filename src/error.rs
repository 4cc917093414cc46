//! Error context: what the program was doing when an I/O error happened.
//! A leaf module (it uses nothing of the kit), so every layer can name its
//! failures the same way: `cannot bind TCP 0.0.0.0:80: Permission denied`.

use std::fmt::Display;
use std::io;

/// Adds what was being done to an I/O error, keeping its kind:
/// `File::open(p).context(|| format!("cannot open {}", p.display()))`
/// fails with `cannot open p: No such file or directory`.
pub trait Context<T> {
    /// Prefixes the error with `what` (built only on error).
    fn context<D: Display>(self, what: impl FnOnce() -> D) -> io::Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context<D: Display>(self, what: impl FnOnce() -> D) -> io::Result<T> {
        self.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", what())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind_and_names_the_action() {
        let failed: io::Result<()> = Err(io::Error::new(io::ErrorKind::NotFound, "gone"));
        let error = failed.context(|| "cannot open x").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert_eq!(error.to_string(), "cannot open x: gone");
    }
}
