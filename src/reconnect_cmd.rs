//! `wsdoctor reconnect` (being built; hidden from --help until it works).

use clap::Args;

/// Arguments of `wsdoctor reconnect`.
#[derive(Debug, Args)]
pub(crate) struct ReconnectArgs {
    /// Anything, for now.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) rest: Vec<String>,
}

pub(crate) async fn run(_args: ReconnectArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`wsdoctor reconnect` is not built yet")
}
