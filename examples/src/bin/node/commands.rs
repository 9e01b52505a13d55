//! The commands `node` reads on stdin, one per line, and the thread that
//! reads them.
//!
//! Parsing is separate from running (`node.rs` runs them against the
//! node), so every form and every mistake can be tested without a node.
//! A line is a command word and its arguments separated by spaces; a value
//! is the rest of its line, so it may hold spaces. Blank lines and lines
//! starting with `#` are skipped.

use std::io::BufRead;
use std::time::Duration;

use crossbeam_channel::Receiver;

/// The longest TTL a command takes: a year, as the library's graces.
const MAX_TTL: Duration = hearsay_std::Config::MAX_GRACE;

/// One command from stdin.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `set KEY VALUE`: set one of this node's keys.
    Set { key: String, value: String },
    /// `set-ttl KEY SECONDS VALUE` (or `ttl`): set it until `ttl` passed.
    SetTtl {
        key: String,
        ttl: Duration,
        value: String,
    },
    /// `delete KEY` (or `del`): delete one of this node's keys.
    Delete { key: String },
    /// `get [NODE] KEY`: a key of `node`'s namespace (`None`: this node's).
    Get { node: Option<String>, key: String },
    /// `members`: a snapshot of every node this one knows.
    Members,
    /// `help`: the list of commands.
    Help,
}

impl Command {
    /// The command's canonical word, as `ok` lines name it.
    pub fn word(&self) -> &'static str {
        match self {
            Command::Set { .. } => "set",
            Command::SetTtl { .. } => "set-ttl",
            Command::Delete { .. } => "delete",
            Command::Get { .. } => "get",
            Command::Members => "members",
            Command::Help => "help",
        }
    }
}

/// The commands and what they do, one line each: `help`'s answer.
pub const HELP: [&str; 6] = [
    "set KEY VALUE               set one of this node's keys (VALUE: the rest of the line)",
    "set-ttl KEY SECONDS VALUE   set it, deleted after SECONDS (alias: ttl)",
    "delete KEY                  delete one of this node's keys (alias: del)",
    "get [NODE] KEY              KEY's value in NODE's namespace (default: this node's)",
    "members                     a snapshot of every node this one knows",
    "help                        this list",
];

/// The first word of `text` and the rest, its leading spaces removed.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim_start()),
        None => (text, ""),
    }
}

/// Parses one line: `Ok(None)` for a blank line or a comment, an error
/// message saying what was expected for anything else that is not a
/// command.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (word, rest) = split_word(line);
    let usage = |u: &str| Err(format!("usage: {u}"));
    let command = match word {
        "set" => match split_word(rest) {
            ("", _) | (_, "") => return usage("set KEY VALUE"),
            (key, value) => Command::Set {
                key: key.to_owned(),
                value: value.to_owned(),
            },
        },
        "set-ttl" | "ttl" => {
            let (key, rest) = split_word(rest);
            let (secs, value) = split_word(rest);
            if key.is_empty() || secs.is_empty() || value.is_empty() {
                return usage("set-ttl KEY SECONDS VALUE");
            }
            let ttl = crate::args::seconds(secs, MAX_TTL)?;
            Command::SetTtl {
                key: key.to_owned(),
                ttl,
                value: value.to_owned(),
            }
        }
        "delete" | "del" => match split_word(rest) {
            (key, "") if !key.is_empty() => Command::Delete {
                key: key.to_owned(),
            },
            _ => return usage("delete KEY"),
        },
        "get" => {
            let (first, rest) = split_word(rest);
            let (second, extra) = split_word(rest);
            match (first, second, extra) {
                ("", _, _) => return usage("get [NODE] KEY"),
                (_, _, extra) if !extra.is_empty() => return usage("get [NODE] KEY"),
                (key, "", _) => Command::Get {
                    node: None,
                    key: key.to_owned(),
                },
                (node, key, _) => Command::Get {
                    node: Some(node.to_owned()),
                    key: key.to_owned(),
                },
            }
        }
        "members" | "help" if !rest.is_empty() => return Err(format!("{word} takes no argument")),
        "members" => Command::Members,
        "help" => Command::Help,
        other => {
            return Err(format!(
                "unknown command {other:?} (set, set-ttl, delete, get, members, help)"
            ));
        }
    };
    Ok(Some(command))
}

/// Reads stdin on a thread of its own and hands over its lines. The
/// channel is disconnected at the end of stdin (or on a read error): the
/// node goes on without commands.
pub fn read_stdin() -> std::io::Result<Receiver<String>> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })?;
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        match parse(line) {
            Ok(Some(c)) => c,
            other => panic!("{line:?} gave {other:?}"),
        }
    }

    fn err(line: &str) -> String {
        match parse(line) {
            Err(e) => e,
            other => panic!("{line:?} was accepted: {other:?}"),
        }
    }

    #[test]
    fn every_command_parses() {
        assert_eq!(
            ok("set http 10.0.0.1:8080"),
            Command::Set {
                key: "http".into(),
                value: "10.0.0.1:8080".into()
            }
        );
        // A value is the rest of the line, inner spaces kept.
        assert_eq!(
            ok("  set  motd   hello  there \r"),
            Command::Set {
                key: "motd".into(),
                value: "hello  there".into()
            }
        );
        assert_eq!(
            ok("set-ttl lease 1.5 me"),
            Command::SetTtl {
                key: "lease".into(),
                ttl: Duration::from_millis(1500),
                value: "me".into()
            }
        );
        assert_eq!(ok("ttl lease 2 a b").word(), "set-ttl");
        assert_eq!(ok("delete http"), Command::Delete { key: "http".into() });
        assert_eq!(ok("del http").word(), "delete");
        assert_eq!(
            ok("get http"),
            Command::Get {
                node: None,
                key: "http".into()
            }
        );
        assert_eq!(
            ok("get b http"),
            Command::Get {
                node: Some("b".into()),
                key: "http".into()
            }
        );
        assert_eq!(ok("members"), Command::Members);
        assert_eq!(ok(" help "), Command::Help);
        for skipped in ["", "   ", "# a comment", "  # set x y"] {
            assert_eq!(parse(skipped), Ok(None), "{skipped:?}");
        }
    }

    #[test]
    fn mistakes_say_what_was_expected() {
        for (line, says) in [
            ("set", "usage: set KEY VALUE"),
            ("set http", "usage: set KEY VALUE"),
            ("set-ttl k 5", "usage: set-ttl"),
            ("ttl k", "usage: set-ttl"),
            ("set-ttl k soon v", "not a number of seconds"),
            ("set-ttl k 0 v", "more than 0"),
            ("set-ttl k -1 v", "more than 0"),
            ("set-ttl k NaN v", "more than 0"),
            ("set-ttl k 1e12 v", "at most"),
            ("delete", "usage: delete KEY"),
            ("delete a b", "usage: delete KEY"),
            ("get", "usage: get [NODE] KEY"),
            ("get a b c", "usage: get [NODE] KEY"),
            ("members now", "takes no argument"),
            ("help me", "takes no argument"),
            ("put a b", "unknown command \"put\""),
        ] {
            let e = err(line);
            assert!(e.contains(says), "{line:?} gave {e:?}");
        }
    }

    #[test]
    fn help_lists_every_command() {
        for word in ["set ", "set-ttl ", "delete ", "get ", "members ", "help "] {
            assert!(HELP.iter().any(|l| l.starts_with(word)), "{word}");
        }
    }
}
