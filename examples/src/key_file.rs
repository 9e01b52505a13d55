//! Reading cluster keys for `node --key-file PATH`.
//!
//! The file holds one key per line as 64 hexadecimal digits (32 bytes);
//! the first key is the primary one (used to seal what the node sends),
//! the others are only accepted on receive — the state of a rotation in
//! progress. Blank lines and lines starting with `#` are ignored.
//!
//! A key file that anyone on the host can read is refused: whoever holds
//! the key can join the cluster and rewrite its state. Errors never
//! include key bytes.

use std::fmt;
use std::path::Path;

/// Most keys a file may hold (the keyring's size).
pub const MAX_KEYS: usize = 4;

/// Why a key file was refused.
#[derive(Debug)]
pub enum KeyFileError {
    /// The file could not be read.
    Io(std::io::Error),
    /// Other users may read the file (mode has `o+r`): `chmod 600` it.
    WorldReadable,
    /// A line is not 64 hexadecimal digits (1-based line number).
    BadKey {
        /// The line, counted from 1.
        line: usize,
    },
    /// The file holds no key.
    Empty,
    /// The file holds more than [`MAX_KEYS`] keys.
    TooManyKeys,
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::Io(e) => write!(f, "cannot read the key file: {e}"),
            KeyFileError::WorldReadable => f.write_str(
                "the key file is readable by every user on this host; restrict it (chmod 600)",
            ),
            KeyFileError::BadKey { line } => write!(
                f,
                "line {line} of the key file is not a key (64 hexadecimal digits)"
            ),
            KeyFileError::Empty => f.write_str("the key file holds no key"),
            KeyFileError::TooManyKeys => {
                write!(f, "the key file holds more than {MAX_KEYS} keys")
            }
        }
    }
}

impl std::error::Error for KeyFileError {}

/// Reads the keys in `path`, primary first.
pub fn read_key_file(path: &Path) -> Result<Vec<[u8; 32]>, KeyFileError> {
    check_not_world_readable(path)?;
    let text = std::fs::read_to_string(path).map_err(KeyFileError::Io)?;
    parse_keys(&text)
}

#[cfg(unix)]
fn check_not_world_readable(path: &Path) -> Result<(), KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(KeyFileError::Io)?
        .permissions()
        .mode();
    if mode & 0o004 != 0 {
        return Err(KeyFileError::WorldReadable);
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_not_world_readable(_path: &Path) -> Result<(), KeyFileError> {
    // Other systems' access lists are not a mode word; nothing to check here.
    Ok(())
}

/// The keys in a key file's text, primary first.
pub fn parse_keys(text: &str) -> Result<Vec<[u8; 32]>, KeyFileError> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = parse_hex_key(line).ok_or(KeyFileError::BadKey { line: i + 1 })?;
        if keys.len() == MAX_KEYS {
            return Err(KeyFileError::TooManyKeys);
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(KeyFileError::Empty);
    }
    Ok(keys)
}

fn parse_hex_key(s: &str) -> Option<[u8; 32]> {
    let digits = s.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        *byte = (hi * 16 + lo) as u8;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";

    #[test]
    fn keys_are_read_primary_first_skipping_comments_and_blanks() {
        let text = format!("# rotation in progress\n\n{A}\n  {}  \n", "ff".repeat(32));
        let keys = parse_keys(&text).expect("two keys");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0][..4], [0, 1, 2, 3]);
        assert_eq!(keys[0][31], 0x1f);
        assert_eq!(keys[1], [0xff; 32]);
    }

    #[test]
    fn bad_lines_name_their_number_and_never_the_key() {
        for bad in ["abc", &A[1..], &format!("{A}0"), &A.replace('0', "g")] {
            let text = format!("# comment\n{bad}\n");
            let err = parse_keys(&text).expect_err("refused");
            assert!(matches!(err, KeyFileError::BadKey { line: 2 }), "{err:?}");
            assert!(!err.to_string().contains(bad), "{err}");
        }
        assert!(matches!(parse_keys("# none\n\n"), Err(KeyFileError::Empty)));
        let five = format!("{A}\n").repeat(MAX_KEYS + 1);
        assert!(matches!(parse_keys(&five), Err(KeyFileError::TooManyKeys)));
    }

    #[cfg(unix)]
    #[test]
    fn a_world_readable_file_is_refused_and_a_private_one_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("hearsay-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("cluster.key");
        std::fs::write(&path, format!("{A}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            read_key_file(&path),
            Err(KeyFileError::WorldReadable)
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(read_key_file(&path).expect("read").len(), 1);
        let missing = dir.join("missing.key");
        assert!(matches!(read_key_file(&missing), Err(KeyFileError::Io(_))));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
