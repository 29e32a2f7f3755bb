//! `wsdoctor logs` (being built; hidden from --help until it works).

use clap::Args;

/// Arguments of `wsdoctor logs`.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Anything, for now.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) rest: Vec<String>,
}

pub(crate) async fn run(_args: LogsArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`wsdoctor logs` is not built yet")
}
