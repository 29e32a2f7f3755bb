//! `wsdoctor lab` (being built; hidden from --help until it works).

use clap::Args;

/// Arguments of `wsdoctor lab`.
#[derive(Debug, Args)]
pub(crate) struct LabArgs {
    /// Anything, for now.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) rest: Vec<String>,
}

pub(crate) async fn run(_args: LabArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`wsdoctor lab` is not built yet")
}
