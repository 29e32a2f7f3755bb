//! `wsdoctor idle` (being built; hidden from --help until it works).

use clap::Args;

/// Arguments of `wsdoctor idle`.
#[derive(Debug, Args)]
pub(crate) struct IdleArgs {
    /// Anything, for now.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) rest: Vec<String>,
}

pub(crate) async fn run(_args: IdleArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`wsdoctor idle` is not built yet")
}
