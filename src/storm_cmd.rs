//! `wsdoctor storm` (being built; hidden from --help until it works).

use clap::Args;

/// Arguments of `wsdoctor storm`.
#[derive(Debug, Args)]
pub(crate) struct StormArgs {
    /// Anything, for now.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) rest: Vec<String>,
}

pub(crate) async fn run(_args: StormArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`wsdoctor storm` is not built yet")
}
