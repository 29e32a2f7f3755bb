//! `wsdoctor`: the command line. It parses arguments into validated library
//! configs, runs a source, hands the evidence to the diagnosis engine and
//! renders the findings. Nothing here measures or decides.

mod args;
mod cli;
mod completions_cmd;
mod connect;
mod demo;
mod explain;
mod flow_cmd;
mod hop_probe;
mod idle_cmd;
mod lab_cmd;
mod lint_cmd;
mod lint_sarif;
mod load_cmd;
mod logs_cmd;
mod merge_cmd;
mod output;
mod probe;
mod reconnect_cmd;
mod serve_cmd;
mod serve_procs;
mod storm_cmd;
mod watch_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};

/// Exit status when the command itself could not run (contract: 2).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Probe(args) => probe::run(*args).await,
            Command::Explain(args) => explain::run(&args),
            Command::Demo(args) => demo::run(args).await,
            Command::Idle(args) => idle_cmd::run(*args).await,
            Command::Load(args) => load_cmd::run(*args).await,
            Command::Merge(args) => merge_cmd::run(&args),
            Command::Lint(args) => lint_cmd::run(*args).await,
            Command::Logs(args) => logs_cmd::run(*args).await,
            Command::Serve(args) => serve_cmd::run(*args).await,
            Command::Lab(args) => lab_cmd::run(*args).await,
            Command::Watch(args) => watch_cmd::run(*args).await,
            Command::Reconnect(args) => reconnect_cmd::run(*args).await,
            Command::Storm(args) => storm_cmd::run(*args).await,
            Command::Flow(args) => flow_cmd::run(*args).await,
            Command::Completions(args) => completions_cmd::completions(&args, Cli::command()),
            Command::Man(args) => completions_cmd::man(&args, Cli::command()),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e),
    }
}

/// clap's own errors quote what was typed (`unexpected argument
/// 'wss://user:pass@…' found`), so they go through the reports' redaction
/// too; help and version go out as clap prints them.
fn usage_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        // --help, --version: nothing typed is quoted.
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    #[allow(clippy::print_stderr)]
    {
        eprint!(
            "{}",
            wsdoctor_evidence::redact_text(&e.render().to_string())
        );
    }
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE))
}

/// Prints one clear line for an error of the command itself and returns exit 2.
fn fail(e: &anyhow::Error) -> ExitCode {
    // Every error goes through the reports' redaction: an error may quote
    // a URL the user typed (or a library's message may), credentials and
    // all.
    let chain: Vec<String> = e
        .chain()
        .map(|cause| wsdoctor_evidence::redact_text(&cause.to_string()))
        .collect();
    #[allow(clippy::print_stderr)]
    {
        eprintln!("wsdoctor: {}", chain.join(": "));
    }
    ExitCode::from(EXIT_USAGE)
}
