//! `wsdoctor serve` (being built; hidden from --help until it works).

use clap::Args;

/// Arguments of `wsdoctor serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Anything, for now.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) rest: Vec<String>,
}

pub(crate) async fn run(_args: ServeArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`wsdoctor serve` is not built yet")
}
