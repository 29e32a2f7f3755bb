//! `wsdoctor flow` (being built; hidden from --help until it works).

use clap::Args;

/// Arguments of `wsdoctor flow`.
#[derive(Debug, Args)]
pub(crate) struct FlowArgs {
    /// Anything, for now.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) rest: Vec<String>,
}

pub(crate) async fn run(_args: FlowArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`wsdoctor flow` is not built yet")
}
