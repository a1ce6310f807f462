//! Shell completions and man pages, generated from a program's clap definition.
//!
//! Both programs offer the same two subcommands (`completions SHELL` and `man`), so
//! they live here once and wsppclient uses them too. Generated from the very
//! `clap::Command` that parses the command line, the scripts and pages cannot fall
//! behind a new flag.

use std::io::{self, Write};
use std::path::PathBuf;

use std::process::ExitCode;

use clap::Subcommand;
pub use clap_complete::Shell;

/// The subcommands that describe a program rather than run it.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum DocsCommand {
    /// Print a shell completion script (e.g. `completions bash > /etc/bash_completion.d/NAME`)
    Completions {
        /// The shell to complete in
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff), e.g. `man > NAME.1`; with --dir, write one page per subcommand there
    Man {
        /// Write NAME.1 and NAME-SUBCOMMAND.1 into this directory instead of printing NAME.1
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

impl DocsCommand {
    /// [`DocsCommand::run`] onto stdout, as a binary's `main` does: the exit status,
    /// and the error on stderr after the program's name.
    pub fn main(&self, cmd: clap::Command) -> ExitCode {
        let program = cmd.get_name().to_owned();
        match self.run(cmd, &mut io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            // `completions bash | head` stops reading: that is the reader's choice.
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{program}: {error}");
                ExitCode::from(2)
            }
        }
    }

    /// Writes what was asked for `cmd` (the program's whole command line) to `out`,
    /// or, for `man --dir`, the pages into that directory and their paths to `out`.
    pub fn run(&self, cmd: clap::Command, out: &mut dyn Write) -> io::Result<()> {
        match self {
            DocsCommand::Completions { shell } => {
                let mut cmd = cmd;
                let name = cmd.get_name().to_owned();
                // Into memory first: the generator panics when a write fails, and a
                // reader that stops early (`| head`) is no reason for a panic.
                let mut script = Vec::new();
                clap_complete::generate(*shell, &mut cmd, name, &mut script);
                out.write_all(&script)
            }
            DocsCommand::Man { dir: None } => clap_mangen::Man::new(cmd).render(out),
            DocsCommand::Man { dir: Some(dir) } => {
                std::fs::create_dir_all(dir)?;
                let name = cmd.get_name().to_owned();
                clap_mangen::generate_to(cmd, dir)?;
                // The pages it wrote, so that the user sees where they went.
                let mut pages: Vec<_> = std::fs::read_dir(dir)?
                    .filter_map(|entry| entry.ok().map(|e| e.path()))
                    .filter(|path| {
                        path.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(name.as_str()) && n.ends_with(".1"))
                    })
                    .collect();
                pages.sort();
                for page in pages {
                    writeln!(out, "{}", page.display())?;
                }
                Ok(())
            }
        }
    }
}
