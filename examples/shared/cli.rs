//! The examples' command lines: each example declares its flags once, and gets from
//! them `--help` (the usage line and a sentence per flag), the parsing, and `--log
//! LEVEL`, which prints the crate's log events on stderr (a connection closed by a
//! limit is one `info` event with its reason; `--log debug` adds every close).
//!
//! `--log` takes what `RUST_LOG` takes without span filters (`info`,
//! `tendril_net=debug,warn`, `off`); `RUST_LOG` is read when `--log` is not given, and
//! the default is `info`. The subscriber is `tracing-subscriber`'s plain formatter.

// Each example uses the part it needs.
#![allow(dead_code)]

use std::fmt::Display;
use std::process::exit;
use std::str::FromStr;

use tracing_subscriber::filter::Targets;

/// One flag: a switch (`--stats`), or one that takes a value (`--listen ADDR`).
pub struct Flag {
    name: &'static str,
    value: Option<&'static str>,
    help: &'static str,
}

/// A switch: present or not.
pub const fn switch(name: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        value: None,
        help,
    }
}

/// A flag taking a value (`value` names it in the help: `ADDR`, `N`).
pub const fn value(name: &'static str, value: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        value: Some(value),
        help,
    }
}

const LOG: Flag = value(
    "--log",
    "LEVEL",
    "log events at LEVEL and above on stderr (`info` by default, or RUST_LOG; `debug` shows every close, `off` none)",
);

/// A parsed command line.
pub struct Cli {
    program: &'static str,
    /// Flags given, in order, with their values (empty for a switch).
    given: Vec<(&'static str, String)>,
    /// Arguments that are not flags, for an example that takes them (`usage` names
    /// them).
    pub positional: Vec<String>,
}

impl Cli {
    /// Parses the process's arguments against `flags`: prints the help and exits 0 on
    /// `--help`; prints the error and exits 2 on an unknown flag or a missing value;
    /// installs the log subscriber. `usage` is what follows the program's name on the
    /// usage line, `about` one sentence on what it does.
    pub fn parse(program: &'static str, usage: &str, about: &str, flags: &[Flag]) -> Cli {
        let mut cli = Cli {
            program,
            given: Vec::new(),
            positional: Vec::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                println!("{}", help(program, usage, about, flags));
                exit(0);
            }
            if !arg.starts_with("--") {
                cli.positional.push(arg);
                continue;
            }
            let Some(flag) = flags.iter().chain([&LOG]).find(|flag| flag.name == arg) else {
                cli.fail(format!("unknown flag `{arg}`"));
            };
            let value = match flag.value {
                None => String::new(),
                Some(what) => args.next().unwrap_or_else(|| {
                    cli.fail(format!("{} needs a value ({what})", flag.name));
                }),
            };
            cli.given.push((flag.name, value));
        }
        cli.install_log();
        cli
    }

    fn install_log(&self) {
        let (spec, from) = match self.get(LOG.name) {
            Some(spec) => (spec.to_owned(), "--log"),
            None => match std::env::var("RUST_LOG") {
                Ok(spec) if !spec.is_empty() => (spec, "RUST_LOG"),
                _ => ("info".to_owned(), "the default"),
            },
        };
        let filter = Targets::from_str(&spec)
            .unwrap_or_else(|err| self.fail(format!("{from} `{spec}`: {err}")));
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false),
            )
            .with(filter)
            .init();
    }

    /// The value of flag `name`, if given (the last one, if given more than once).
    pub fn get(&self, name: &str) -> Option<&str> {
        let (_, value) = self.given.iter().rev().find(|(flag, _)| *flag == name)?;
        Some(value)
    }

    /// Every value flag `name` was given, in order (for a repeated flag).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.given
            .iter()
            .filter(move |(flag, _)| *flag == name)
            .map(|(_, value)| value.as_str())
    }

    /// True if switch `name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The value of flag `name` parsed, if given; a value that does not parse is
    /// reported and the process exits 2.
    pub fn parsed<T: FromStr>(&self, name: &str) -> Option<T>
    where
        T::Err: Display,
    {
        let text = self.get(name)?;
        Some(self.parse_value(name, text))
    }

    /// `text`, given to flag `name`, parsed; reported and exit 2 if it does not parse.
    pub fn parse_value<T: FromStr>(&self, name: &str, text: &str) -> T
    where
        T::Err: Display,
    {
        text.parse()
            .unwrap_or_else(|err| self.fail(format!("{name} {text}: {err:#}")))
    }

    /// The value of flag `name` parsed, or `default`.
    pub fn parsed_or<T: FromStr>(&self, name: &str, default: T) -> T
    where
        T::Err: Display,
    {
        self.parsed(name).unwrap_or(default)
    }

    /// The value of `result`, or its error reported (`program: error`, with its
    /// causes) and exit status 1: for what a program cannot go on without (its
    /// listening socket, its connection).
    pub fn or_exit<T, E: Display>(&self, result: Result<T, E>) -> T {
        result.unwrap_or_else(|err| {
            eprintln!("{}: {err:#}", self.program);
            exit(1);
        })
    }

    /// Reports a usage error (`program: message`, then where the help is) and exits 2.
    pub fn fail(&self, message: impl Display) -> ! {
        eprintln!(
            "{}: {message}\n(see `{} --help`)",
            self.program, self.program
        );
        exit(2);
    }
}

fn help(program: &str, usage: &str, about: &str, flags: &[Flag]) -> String {
    let mut text = format!("usage: {program} {usage}\n\n{about}\n");
    let named: Vec<(String, &str)> = flags
        .iter()
        .chain([&LOG])
        .map(|flag| match flag.value {
            Some(value) => (format!("{} {value}", flag.name), flag.help),
            None => (flag.name.to_owned(), flag.help),
        })
        .collect();
    let width = named.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    text.push('\n');
    for (name, help) in named {
        text.push_str(&format!("  {name:width$}  {help}\n"));
    }
    text.push_str(&format!("  {:width$}  print this help\n", "--help"));
    text
}
