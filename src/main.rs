//! `wsdoctor`: the command line. It parses arguments into validated library
//! configs, runs a source, hands the evidence to the diagnosis engine and
//! renders the findings. Nothing here measures or decides.

mod args;
mod demo;
mod explain;
mod flow_cmd;
mod idle_cmd;
mod lab_cmd;
mod lint_cmd;
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

use clap::Parser;

use crate::args::{Cli, Command};

/// Exit status when the command itself could not run (contract: 2).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e),
    }
}

/// Prints one clear line for an error of the command itself and returns exit 2.
fn fail(e: &anyhow::Error) -> ExitCode {
    let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
    #[allow(clippy::print_stderr)]
    {
        eprintln!("wsdoctor: {}", chain.join(": "));
    }
    ExitCode::from(EXIT_USAGE)
}
