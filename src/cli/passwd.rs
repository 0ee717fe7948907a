//! `mqtk passwd`: manage a mosquitto password file, with mosquitto_passwd's flags
//! (`-c` create, `-b` batch, `-D` delete, `-H` hash). Its flags (`PasswdArgs`) and `run`.
//! Prompts for the password on the terminal without echo. The file format lives in
//! `broker::password`; this file must not print (errors go back to `main`).

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};

use crate::broker::access::password::{self, PasswordFile, PasswordHash};

/// Long help of the subcommand (`--help`, man page).
pub const LONG_ABOUT: &str = "\
Add, change or delete a user in a password file for `mqtk serve --password-file` and for
mosquitto's password_file. The file format, the hashing (PBKDF2-SHA512 with 101 iterations
and a 12-byte random salt, like mosquitto_passwd 2.0) and the flags are mosquitto_passwd's,
so files written by either tool work with both brokers.

Without -b the password is read from the terminal twice, without echo. Other lines of the
file (other users, comments) are kept as they are; the file is replaced atomically and is
readable by its owner only.";

/// Examples shown after the flags in `--help`.
pub const AFTER_HELP: &str = "\
Examples:
  mqtk passwd -c passwd alice                 create the file, prompt for alice's password
  mqtk passwd -b passwd bob 'hunter 2'        add or change bob, password on the command line
  mqtk passwd -D passwd bob                   delete bob
  mqtk serve --allow-anonymous false --password-file passwd";

/// The hashing scheme (`-H`), named as in mosquitto_passwd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HashScheme {
    /// PBKDF2-SHA512 (`$7$`), mosquitto 2.0's default
    #[value(name = "sha512-pbkdf2")]
    Sha512Pbkdf2,
    /// Salted SHA512 (`$6$`), mosquitto 1.6 and earlier
    #[value(name = "sha512")]
    Sha512,
}

/// Flags of `mqtk passwd`.
#[derive(Debug, Clone, Args)]
pub struct PasswdArgs {
    /// Create a new password file, overwriting an existing one
    #[arg(short = 'c', long = "create", conflicts_with = "delete")]
    pub create: bool,

    /// Batch mode: take the password from the command line instead of prompting
    #[arg(
        short = 'b',
        long = "batch",
        conflicts_with = "delete",
        requires = "password"
    )]
    pub batch: bool,

    /// Delete USER from the file
    #[arg(short = 'D', long = "delete")]
    pub delete: bool,

    /// Hashing scheme
    #[arg(short = 'H', long = "hash", value_name = "HASH", value_enum,
          default_value_t = HashScheme::Sha512Pbkdf2)]
    pub hash: HashScheme,

    /// The password file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The user to add, change or delete
    #[arg(value_name = "USER")]
    pub username: String,

    /// The password (only with -b)
    #[arg(value_name = "PASSWORD")]
    pub password: Option<String>,
}

/// Runs `mqtk passwd`.
pub fn run(args: PasswdArgs) -> anyhow::Result<()> {
    password::check_username(&args.username)?;
    if args.password.is_some() && !args.batch {
        bail!(
            "a password on the command line needs -b (batch mode); without -b it is prompted for"
        );
    }
    let file = args.file.display().to_string();
    let old_text = if args.create {
        String::new()
    } else {
        std::fs::read_to_string(&args.file).with_context(|| {
            format!("cannot read password file {file} (use -c to create a new one)")
        })?
    };
    // Refuse to edit a file we could not read back, rather than rewrite it wrongly.
    PasswordFile::parse(&old_text).with_context(|| format!("password file {file}"))?;

    let hash = if args.delete {
        None
    } else {
        let password = match args.password {
            Some(password) => password,
            None => prompt_twice()?,
        };
        Some(match args.hash {
            HashScheme::Sha512Pbkdf2 => PasswordHash::new(&password)?,
            HashScheme::Sha512 => PasswordHash::new_sha512(&password)?,
        })
    };
    let (new_text, found) = password::edit_text(&old_text, &args.username, hash.as_ref());
    if args.delete && !found {
        bail!("user {:?} is not in {file}; nothing deleted", args.username);
    }
    password::write_atomically(&args.file, &new_text)
        .with_context(|| format!("cannot write password file {file}"))?;
    Ok(())
}

/// Read the password twice from the terminal without echo, as mosquitto_passwd does.
fn prompt_twice() -> anyhow::Result<String> {
    let no_tty = "cannot prompt for the password: no terminal; \
                  give it on the command line with -b FILE USER PASSWORD";
    let first = rpassword::prompt_password("Password: ").context(no_tty)?;
    let second = rpassword::prompt_password("Reenter password: ").context(no_tty)?;
    if first != second {
        bail!("the passwords do not match; nothing changed");
    }
    if first.is_empty() {
        bail!("empty password; nothing changed");
    }
    Ok(first)
}
