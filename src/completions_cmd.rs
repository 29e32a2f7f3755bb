//! `wsdoctor completions SHELL` and `wsdoctor man`: shell completion
//! scripts (clap_complete) and roff man pages (clap_mangen), both generated
//! from the same clap types that parse the command line, so they never
//! disagree with it. `main` hands in the command line's clap command, so
//! this module names no other command.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use clap_complete::Shell;

/// Arguments of `wsdoctor completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write the completion script for (printed on stdout).
    #[arg(value_enum, value_name = "SHELL")]
    pub(crate) shell: Shell,
}

/// Arguments of `wsdoctor man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write one page per command into DIR (wsdoctor.1, wsdoctor-probe.1, …)
    /// instead of printing wsdoctor.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

/// The name the scripts complete: the binary's own.
const BIN: &str = "wsdoctor";

pub(crate) fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<u8> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, BIN, &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .context("writing the completion script")?;
    Ok(0)
}

pub(crate) fn man(args: &ManArgs, cmd: clap::Command) -> anyhow::Result<u8> {
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        clap_mangen::generate_to(cmd, dir)
            .with_context(|| format!("writing man pages into {}", dir.display()))?;
        return Ok(0);
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut page)
        .context("rendering the man page")?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&page)
        .and_then(|()| stdout.flush())
        .context("writing the man page")?;
    Ok(0)
}
